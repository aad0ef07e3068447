#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Small text helpers the alerter's parsers and printers share: UTF-8 sequence lengths, Go-style
// quoting, Prometheus name checks, ASCII case folding, trimming, and UTC calendar fields.

namespace stages::alerter {

/** Length of the valid UTF-8 sequence starting at text[i] (1 for ASCII), or 0 if it is not
 * valid UTF-8 (overlong, surrogate, above U+10FFFF, or cut short). */
std::size_t utf8Length(std::string_view text, std::size_t i);

/** The escape Go's strconv.Quote and encoding/json share for `"`, `\`, newline, CR and tab
 * (`\"`, `\\`, `\n`, `\r`, `\t`); empty for every other byte. */
std::string_view commonEscape(char c);

/** The byte the escape `\<e>` stands for in a quoted literal when `e` is one of `accepted` (each
 * a subset of `\`, `"`, `'`, `n`, `t`, `r`: PromQL strings accept all six, Go template strings
 * all but `'` and `r`); nullopt for any other escape. */
std::optional<char> unescape(char e, std::string_view accepted);

/** Which Go-style double quoting quote() writes; all escape `"`, `\`, \n, \r and \t. */
enum class QuoteStyle {
  /** Every other byte kept as is (rule expressions printing matcher values). */
  PromQl,
  /** Also the other ASCII controls and DEL as \xNN; bytes >= 0x80 kept unchecked (template %q). */
  Template,
  /** Go's strconv.Quote / %q: also \a \b \f \v, other controls, DEL and invalid UTF-8 as \xNN. */
  GoStrconv,
};

/** `text` in double quotes, escaped as `style` says. */
std::string quote(std::string_view text, QuoteStyle style);

/** [a-zA-Z_:]: may start a metric name (and an identifier in rule expressions). */
bool isMetricNameStart(char c);
/** [a-zA-Z0-9_:]: may continue a metric name. */
bool isMetricNameChar(char c);
/** Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool isMetricName(std::string_view name);
/** Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*. */
bool isLabelName(std::string_view name);

/** Equal when ASCII letters are folded to lower case; other bytes compare exactly. */
bool equalsIgnoreCase(std::string_view a, std::string_view b);

/** `text` without the leading bytes found in `chars`. */
std::string_view trimLeft(std::string_view text, std::string_view chars);
/** `text` without the trailing bytes found in `chars`. */
std::string_view trimRight(std::string_view text, std::string_view chars);
/** `text` without the leading and trailing bytes found in `chars`. */
std::string_view trim(std::string_view text, std::string_view chars);

/** A UTC instant split into proleptic Gregorian calendar fields (floored, so instants before
 * 1970 work too). */
struct UtcTime {
  std::int64_t days = 0;  // days since 1970-01-01
  std::int64_t year = 1970;
  std::int64_t month = 1;  // 1..12
  std::int64_t day = 1;    // 1..31
  std::int64_t hour = 0;
  std::int64_t minute = 0;
  std::int64_t second = 0;
  std::int64_t millis = 0;  // 0..999
};

/** Calendar fields of `ms_since_epoch` (Howard Hinnant's civil-from-days algorithm). */
UtcTime utcTime(std::int64_t ms_since_epoch);

/** Days since 1970-01-01 of a proleptic Gregorian date (the inverse of utcTime's date part). */
std::int64_t daysFromCivil(std::int64_t year, unsigned month, unsigned day);

}  // namespace stages::alerter
