#include "pipeline/json.h"

#include <fmt/format.h>

#include <cmath>

namespace pipeline::json {

void appendString(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
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
Writer& Writer::value(std::int64_t number) { return raw(fmt::format("{}", number)); }
Writer& Writer::value(std::uint64_t number) { return raw(fmt::format("{}", number)); }

Writer& Writer::value(double number) {
  if (!std::isfinite(number)) return null();
  return raw(fmt::format("{}", number));
}

Writer& Writer::null() { return raw("null"); }

Writer& Writer::raw(std::string_view json) {
  separate();
  out_ += json;
  need_comma_ = true;
  return *this;
}

}  // namespace pipeline::json
