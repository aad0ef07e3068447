#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pipeline::json {

/** Appends `text` to `out` as a JSON string literal (quotes included), escaping as RFC 8259 says. */
void appendString(std::string& out, std::string_view text);

/** `text` as a JSON string literal. */
std::string quote(std::string_view text);

/**
 * Streaming writer of compact JSON. The caller keeps the structure balanced; the writer inserts
 * commas and colons. Not validating: a misuse is a programming error caught by tests.
 *
 *   Writer w; w.beginObject(); w.key("a"); w.value(1); w.endObject(); w.str() == R"({"a":1})"
 */
class Writer {
 public:
  Writer& beginObject();
  Writer& endObject();
  Writer& beginArray();
  Writer& endArray();
  Writer& key(std::string_view name);
  Writer& value(std::string_view text);
  Writer& value(const char* text) { return value(std::string_view(text)); }
  Writer& value(const std::string& text) { return value(std::string_view(text)); }
  Writer& value(bool flag);
  Writer& value(std::int64_t number);
  Writer& value(std::uint64_t number);
  Writer& value(int number) { return value(static_cast<std::int64_t>(number)); }
  Writer& value(unsigned number) { return value(static_cast<std::uint64_t>(number)); }
  /** Non-finite doubles have no JSON form and are written as null. */
  Writer& value(double number);
  Writer& null();
  /** Inserts already-serialised JSON as one value. */
  Writer& raw(std::string_view json);

  template <typename T>
  Writer& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& str() const& { return out_; }
  std::string str() && { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace pipeline::json
