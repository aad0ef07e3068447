#include "stages/alerter/regex.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace stages::alerter {

namespace {

constexpr int kMaxNumber = 1000;
constexpr std::int64_t kMaxExpandedLength = 10000;

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

std::int64_t saturated(std::int64_t length) { return std::min(length, kMaxExpandedLength + 1); }

// What a pattern would cost std::regex before it is compiled: whether a repetition or
// back-reference has a number above kMaxNumber, and the pattern's length with every {n,m}
// written out as m copies of what it repeats (std::regex builds one automaton state per copy).
// Inside a character class braces and parentheses are literal, so only back-references count
// there. Lengths saturate just above the limit, so nesting cannot overflow.
struct PatternCost {
  bool number_above_limit = false;
  std::int64_t expanded_length = 0;
};

PatternCost costOf(std::string_view text) {
  PatternCost cost;
  // The expanded length of each open group so far, the whole pattern at the bottom.
  std::vector<std::int64_t> groups{0};
  std::int64_t last_atom = 0;  // the expanded length of what a repetition would repeat
  bool in_class = false;
  auto addAtom = [&](std::int64_t length) {
    last_atom = length;
    groups.back() = saturated(groups.back() + length);
  };
  std::size_t i = 0;
  while (i < text.size() && !cost.number_above_limit) {
    const char c = text[i++];
    if (c == '\\' && i < text.size()) {
      if (!isDigit(text[i])) {
        ++i;  // an escaped character
      } else if (readNumber(text, i) > kMaxNumber) {
        cost.number_above_limit = true;
      }
      if (!in_class) addAtom(1);
    } else if (in_class) {
      in_class = c != ']';
      if (!in_class) addAtom(1);
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      groups.push_back(0);
    } else if (c == ')' && groups.size() > 1) {
      const std::int64_t group = groups.back() + 1;
      groups.pop_back();
      addAtom(group);
    } else if (c == '{') {
      const int least = readNumber(text, i);
      int copies = least;
      if (i < text.size() && text[i] == ',') {
        ++i;
        const bool bounded = i < text.size() && isDigit(text[i]);
        const int most = readNumber(text, i);
        copies = bounded ? std::max(least, most) : least + 1;  // {n,} is n copies and a star
        cost.number_above_limit = most > kMaxNumber;
      }
      cost.number_above_limit = cost.number_above_limit || least > kMaxNumber;
      if (i < text.size() && text[i] == '}') ++i;
      // The atom is already counted once; {0} still leaves its states in the automaton.
      groups.back() = saturated(groups.back() + last_atom * std::max(copies - 1, 0));
      last_atom = saturated(last_atom * std::max(copies, 1));
    } else if (c != '*' && c != '+' && c != '?' && c != '|') {
      addAtom(1);
    }
  }
  for (std::int64_t group : groups) cost.expanded_length = saturated(cost.expanded_length + group);
  return cost;
}

}  // namespace

pipeline::Result<std::shared_ptr<const std::regex>> compileRegex(const std::string& pattern) {
  const PatternCost cost = costOf(pattern);
  if (cost.number_above_limit) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig,
                           fmt::format("a repetition count or back-reference above {}", kMaxNumber)};
  }
  if (cost.expanded_length > kMaxExpandedLength) {
    return pipeline::Error{
        pipeline::ErrorType::InvalidConfig,
        fmt::format("too large: with its repetitions written out it is longer than {} characters",
                    kMaxExpandedLength)};
  }
  try {
    return std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& error) {
    return pipeline::Error{pipeline::ErrorType::InvalidConfig, error.what()};
  }
}

}  // namespace stages::alerter
