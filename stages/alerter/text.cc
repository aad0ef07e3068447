#include "stages/alerter/text.h"

#include <fmt/format.h>

#include <algorithm>

namespace stages::alerter {

namespace {

std::string_view goLetterEscape(char c) {
  switch (c) {
    case '\a':
      return "\\a";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\v':
      return "\\v";
    default:
      return {};
  }
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::size_t utf8Length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  if (lead == 0xe0 && byte(i + 1) < 0xa0) return 0;  // overlong
  if (lead == 0xed && byte(i + 1) > 0x9f) return 0;  // surrogate
  if (lead == 0xf0 && byte(i + 1) < 0x90) return 0;  // overlong
  if (lead == 0xf4 && byte(i + 1) > 0x8f) return 0;  // above U+10FFFF
  return length;
}

std::string_view commonEscape(char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return {};
  }
}

std::optional<char> unescape(char e, std::string_view accepted) {
  if (accepted.find(e) == std::string_view::npos) return std::nullopt;
  switch (e) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case '\\':
    case '"':
    case '\'':
      return e;
    default:
      return std::nullopt;
  }
}

std::string quote(std::string_view text, QuoteStyle style) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 && style == QuoteStyle::GoStrconv) {
      const std::size_t length = utf8Length(text, i);
      if (length == 0) {
        out += fmt::format("\\x{:02x}", static_cast<unsigned>(byte));
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    if (const std::string_view escape = commonEscape(c); !escape.empty()) {
      out += escape;
    } else if (const std::string_view letter = goLetterEscape(c);
               style == QuoteStyle::GoStrconv && !letter.empty()) {
      out += letter;
    } else if (style != QuoteStyle::PromQl && (byte < 0x20 || byte == 0x7f)) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned>(byte));
    } else {
      out.push_back(c);
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

bool isMetricNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

bool isMetricNameChar(char c) { return isMetricNameStart(c) || isDigit(c); }

bool isMetricName(std::string_view name) {
  return !name.empty() && isMetricNameStart(name[0]) &&
         std::all_of(name.begin(), name.end(), isMetricNameChar);
}

bool isLabelName(std::string_view name) {
  return !name.empty() && name[0] != ':' && isMetricNameStart(name[0]) &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return c != ':' && isMetricNameChar(c); });
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) {
           return lower(x) == lower(y);
         });
}

std::string_view trimLeft(std::string_view text, std::string_view chars) {
  const std::size_t start = text.find_first_not_of(chars);
  return start == std::string_view::npos ? std::string_view() : text.substr(start);
}

std::string_view trimRight(std::string_view text, std::string_view chars) {
  const std::size_t end = text.find_last_not_of(chars);
  return end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1);
}

std::string_view trim(std::string_view text, std::string_view chars) {
  return trimRight(trimLeft(text, chars), chars);
}

UtcTime utcTime(std::int64_t ms_since_epoch) {
  UtcTime t;
  std::int64_t seconds = ms_since_epoch / 1000;
  t.millis = ms_since_epoch % 1000;
  if (t.millis < 0) {
    t.millis += 1000;
    seconds -= 1;
  }
  t.days = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    t.days -= 1;
  }
  t.hour = rem / 3600;
  t.minute = rem % 3600 / 60;
  t.second = rem % 60;
  const std::int64_t z = t.days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  t.day = doy - (153 * mp + 2) / 5 + 1;
  t.month = mp < 10 ? mp + 3 : mp - 9;
  t.year = yoe + era * 400 + (t.month <= 2 ? 1 : 0);
  return t;
}

std::int64_t daysFromCivil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace stages::alerter
