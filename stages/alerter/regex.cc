#include "stages/alerter/regex.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace stages::alerter {

namespace {

constexpr int kMaxNumber = 1000;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads the digit run at text[i] (none reads as 0) and moves `i` past it; capped at
// kMaxNumber + 1, so a long run cannot overflow here either.
int readNumber(std::string_view text, std::size_t& i) {
  int value = 0;
  for (; i < text.size() && isDigit(text[i]); ++i) {
    value = std::min(value * 10 + (text[i] - '0'), kMaxNumber + 1);
  }
  return value;
}

// Whether a repetition or back-reference has a number above kMaxNumber. Inside a character
// class braces are literal, so only back-references count there.
bool hasNumberAboveLimit(std::string_view text) {
  bool in_class = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i++];
    if (c == '\\' && i < text.size()) {
      if (!isDigit(text[i])) {
        ++i;  // an escaped character
      } else if (readNumber(text, i) > kMaxNumber) {
        return true;
      }
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
    } else if (c == '{') {
      if (readNumber(text, i) > kMaxNumber) return true;
      if (i < text.size() && text[i] == ',' && readNumber(text, ++i) > kMaxNumber) return true;
    }
  }
  return false;
}

}  // namespace

pipeline::Result<std::shared_ptr<const std::regex>> compileRegex(const std::string& pattern) {
  if (hasNumberAboveLimit(pattern)) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig,
                           fmt::format("a repetition count or back-reference above {}", kMaxNumber)};
  }
  try {
    return std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig, error.what()};
  }
}

}  // namespace stages::alerter
