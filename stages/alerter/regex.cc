#include "stages/alerter/regex.h"

#include <fmt/format.h>

#include <string_view>

namespace stages::alerter {

namespace {

constexpr int kMaxNumber = 1000;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Moves `i` past the digit run starting there; false if its value is above kMaxNumber.
bool skipNumberWithinLimit(std::string_view text, std::size_t& i) {
  int value = 0;
  bool within = true;
  for (; i < text.size() && isDigit(text[i]); ++i) {
    value = within ? value * 10 + (text[i] - '0') : value;
    within = within && value <= kMaxNumber;
  }
  return within;
}

// Whether a repetition or back-reference has a number above kMaxNumber. Inside a character
// class braces are literal, so only back-references count there.
bool hasNumberAboveLimit(std::string_view text) {
  bool in_class = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      ++i;
      if (!isDigit(text[i])) continue;  // an escaped character
      if (!skipNumberWithinLimit(text, i)) return true;
      --i;
    } else if (in_class) {
      in_class = text[i] != ']';
    } else if (text[i] == '[') {
      in_class = true;
    } else if (text[i] == '{') {
      ++i;
      if (!skipNumberWithinLimit(text, i)) return true;
      if (i < text.size() && text[i] == ',' && !skipNumberWithinLimit(text, ++i)) return true;
      --i;
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
