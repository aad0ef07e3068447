#include "pipeline/json.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <iterator>

namespace pipeline::json {

namespace {

// What a byte needs in a JSON string: nothing (0), a two-character escape, or \u00XX (1).
constexpr std::array<char, 256> escapeTable() {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = 1;
  table['"'] = '"';
  table['\\'] = '\\';
  table['\n'] = 'n';
  table['\r'] = 'r';
  table['\t'] = 't';
  table['\b'] = 'b';
  table['\f'] = 'f';
  return table;
}
constexpr std::array<char, 256> kEscape = escapeTable();

template <typename Integer>
void appendInteger(std::string& out, Integer number) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, result.ptr);
}

}  // namespace

void appendString(std::string& out, std::string_view text) {
  out.push_back('"');
  // Unescaped runs are appended whole: most strings (keys, hex, addresses) are one run.
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char escape = kEscape[static_cast<unsigned char>(text[i])];
    if (escape == 0) continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    if (escape == 1) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(text[i]));
    } else {
      out.push_back('\\');
      out.push_back(escape);
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out.push_back('"');
}

std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  appendString(out, text);
  return out;
}

void Writer::separate() {
  if (need_comma_) out_.push_back(',');
}

Writer& Writer::beginObject() {
  separate();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

Writer& Writer::endObject() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

Writer& Writer::beginArray() {
  separate();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

Writer& Writer::endArray() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

Writer& Writer::key(std::string_view name) {
  separate();
  appendString(out_, name);
  out_.push_back(':');
  need_comma_ = false;
  return *this;
}

Writer& Writer::value(std::string_view text) {
  separate();
  appendString(out_, text);
  need_comma_ = true;
  return *this;
}

Writer& Writer::value(bool flag) { return raw(flag ? "true" : "false"); }
Writer& Writer::value(std::int64_t number) {
  separate();
  appendInteger(out_, number);
  need_comma_ = true;
  return *this;
}

Writer& Writer::value(std::uint64_t number) {
  separate();
  appendInteger(out_, number);
  need_comma_ = true;
  return *this;
}

Writer& Writer::value(double number) {
  if (!std::isfinite(number)) return null();
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", number);
  need_comma_ = true;
  return *this;
}

Writer& Writer::null() { return raw("null"); }

Writer& Writer::raw(std::string_view json) {
  separate();
  out_ += json;
  need_comma_ = true;
  return *this;
}

}  // namespace pipeline::json
