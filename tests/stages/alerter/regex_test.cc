#include "stages/alerter/regex.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace stages::alerter {
namespace {

bool fullMatch(const std::string& pattern, const std::string& text) {
  auto regex = compileRegex(pattern);
  EXPECT_TRUE(regex.has_value()) << pattern << ": " << regex.error().message;
  return regex.has_value() && std::regex_match(text, **regex);
}

std::string errorOf(const std::string& pattern) {
  auto regex = compileRegex(pattern);
  EXPECT_FALSE(regex.has_value()) << pattern;
  return regex.has_value() ? std::string() : regex.error().message;
}

TEST(CompileRegexTest, CompilesTheEcmaScriptGrammar) {
  EXPECT_TRUE(fullMatch("fetch.*|decoder", "fetcher"));
  EXPECT_TRUE(fullMatch("a{2,3}", "aaa"));
  EXPECT_FALSE(fullMatch("a{2,3}", "aaaa"));
  EXPECT_TRUE(fullMatch("(ab)\\1", "abab"));
  EXPECT_TRUE(fullMatch("12345678901234567890", "12345678901234567890"));  // digits as such
  EXPECT_TRUE(fullMatch("x,99999", "x,99999"));
  EXPECT_TRUE(fullMatch("[{99999}]+", "{9}"));  // braces in a class are characters
  EXPECT_TRUE(fullMatch("[\\]{]{2}", "]{"));
  EXPECT_TRUE(fullMatch("\\{99999}", "{99999}"));  // an escaped brace is a character
}

// Go's limit, as in Prometheus and Alertmanager; beyond it std::regex would overflow a long.
TEST(CompileRegexTest, BoundsRepetitionsAndBackReferencesAt1000) {
  EXPECT_TRUE(fullMatch("a{1000}", std::string(1000, 'a')));
  EXPECT_TRUE(fullMatch("a{0,1000}", "aa"));
  EXPECT_EQ("a repetition count or back-reference above 1000", errorOf("a{1001}"));
  EXPECT_EQ("a repetition count or back-reference above 1000", errorOf("a{2,1001}"));
  EXPECT_EQ("a repetition count or back-reference above 1000",
            errorOf("(a)\\88888888888888888888"));
  EXPECT_EQ("a repetition count or back-reference above 1000",
            errorOf("[a]x{99999999999999999999999}"));
}

// std::regex builds one state per repeated copy; the pattern written out is bounded at 10,000
// characters, nested repetitions multiplying.
TEST(CompileRegexTest, BoundsThePatternWithItsRepetitionsWrittenOut) {
  const std::string too_large =
      "too large: with its repetitions written out it is longer than 10000 characters";
  std::string nine_hundred_ab;
  for (int i = 0; i < 900; ++i) nine_hundred_ab += "ab";
  EXPECT_TRUE(fullMatch("(abcdefghi){1000}", [] {
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "abcdefghi";
    return text;
  }()));  // 10 characters (the group counts one) x 1000
  EXPECT_EQ(too_large, errorOf("(abcdefghij){1000}"));
  EXPECT_TRUE(fullMatch("((ab){30}){30}", nine_hundred_ab));
  EXPECT_EQ(too_large, errorOf("((ab){100}){100}"));
  EXPECT_EQ(too_large, errorOf("x|(a{2,}b{1000}){20}"));
  EXPECT_TRUE(fullMatch("a{1000,}", std::string(1001, 'a')));
  EXPECT_TRUE(fullMatch("[(){}]{1000}", std::string(1000, '}')));  // a class is one character
  EXPECT_EQ(too_large, errorOf("((((a{1000}){1000}){1000}){1000}){1000}"));  // no overflow
}

TEST(CompileRegexTest, ReportsTheLibrarysErrorForAnInvalidPattern) {
  EXPECT_FALSE(errorOf("(").empty());
  EXPECT_FALSE(errorOf("a{3,2}").empty());
}

}  // namespace
}  // namespace stages::alerter
