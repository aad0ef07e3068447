#include "stages/alerter/notify/delivery.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "stages/alerter/text.h"

namespace stages::alerter::notify {

namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kWeekdays = {"Thu", "Fri", "Sat", "Sun",
                                                       "Mon", "Tue", "Wed"};  // from 1970-01-01

int monthIndex(const char* name) {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == name) return static_cast<int>(i) + 1;
  }
  return 0;
}

std::optional<std::int64_t> parseHttpDate(const std::string& text) {
  int day = 0, year = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  char month[4] = {};
  const int length = static_cast<int>(text.size());
  bool parsed = false;
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  if (std::sscanf(text.c_str(), "%*3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &day, month,
                  &year, &hour, &minute, &second, &consumed) == 6 &&
      consumed == length) {
    parsed = true;
  }
  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  if (!parsed &&
      std::sscanf(text.c_str(), "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &day, month,
                  &year, &hour, &minute, &second, &consumed) == 6 &&
      consumed == length) {
    year += year < 70 ? 2000 : 1900;
    parsed = true;
  }
  // asctime: Sun Nov  6 08:49:37 1994
  if (!parsed &&
      std::sscanf(text.c_str(), "%*3[A-Za-z] %3[A-Za-z] %d %2d:%2d:%2d %4d%n", month, &day, &hour,
                  &minute, &second, &year, &consumed) == 6 &&
      consumed == length) {
    parsed = true;
  }
  const int m = monthIndex(month);
  if (!parsed || m == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 ||
      year < 1970) {
    return std::nullopt;
  }
  const std::int64_t days =
      daysFromCivil(year, static_cast<unsigned>(m), static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute) * 60 * 1000 + std::int64_t{second} * 1000;
}

// HTTP optional whitespace (RFC 9110 OWS): space and tab only.
constexpr std::string_view kOws = " \t";

}  // namespace

std::string_view outcomeName(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::Delivered:
      return "delivered";
    case Outcome::Retry:
      return "retry";
    case Outcome::Reject:
      return "reject";
  }
  return "unknown";
}

Outcome classifyHttpStatus(int status) noexcept {
  if (status >= 200 && status < 300) return Outcome::Delivered;
  if (status == 429 || (status >= 500 && status < 600)) return Outcome::Retry;
  return Outcome::Reject;
}

Outcome classifyTransportError(pipeline::ErrorType type) noexcept {
  return type == pipeline::ErrorType::InvalidArgument ? Outcome::Reject : Outcome::Retry;
}

std::chrono::milliseconds backoffDelay(std::uint32_t failed_attempts,
                                       std::chrono::milliseconds initial,
                                       std::chrono::milliseconds max) {
  if (failed_attempts == 0) return std::chrono::milliseconds(0);
  std::chrono::milliseconds delay = initial;
  for (std::uint32_t i = 1; i < failed_attempts && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value,
                                                         std::int64_t now_ms) {
  value = trim(value, kOws);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) {
      return std::chrono::milliseconds(std::int64_t{365} *
                                       86'400'000);  // absurdly large: cap later
    }
    seconds = std::min<std::int64_t>(seconds, std::int64_t{365} * 86'400);
    return std::chrono::milliseconds(seconds * 1000);
  }
  const auto at = parseHttpDate(std::string(value));
  if (!at) return std::nullopt;
  return std::chrono::milliseconds(std::max<std::int64_t>(0, *at - now_ms));
}

std::string formatHttpDate(std::int64_t ms) {
  const UtcTime t = utcTime(ms);
  const auto weekday = static_cast<std::size_t>(((t.days % 7) + 7) % 7);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kWeekdays[weekday], t.day,
                     kMonths[static_cast<std::size_t>(t.month - 1)], t.year, t.hour, t.minute,
                     t.second);
}

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string signatureHeader(std::string_view secret, std::int64_t unix_seconds,
                            std::string_view body) {
  std::string message = fmt::format("{}.", unix_seconds);
  message.append(body);
  return fmt::format("t={},v1={}", unix_seconds, hmacSha256Hex(secret, message));
}

bool verifySignature(std::string_view header, std::string_view secret, std::string_view body,
                     std::int64_t now_s, std::int64_t tolerance_s) {
  std::optional<std::int64_t> t;
  std::string_view v1;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const std::string_view part = trim(header.substr(0, comma), kOws);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (key == "t") {
      std::int64_t parsed = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (ec != std::errc() || end != value.data() + value.size()) return false;
      t = parsed;
    } else if (key == "v1") {
      v1 = value;
    }
  }
  if (!t || v1.empty()) return false;
  if (*t < now_s - tolerance_s || *t > now_s + tolerance_s) return false;
  std::string message = fmt::format("{}.", *t);
  message.append(body);
  const std::string expected = hmacSha256Hex(secret, message);
  if (expected.size() != v1.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(expected[i] ^ v1[i]);
  }
  return diff == 0;
}

}  // namespace stages::alerter::notify
