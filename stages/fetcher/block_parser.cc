#include "stages/fetcher/block_parser.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace stages::fetcher {
namespace {

constexpr std::size_t kMaxMessageBytes = 200;

std::string_view trim(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

// Node text is quoted in logs: keep it short and printable.
std::string bounded(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxMessageBytes));
  for (char c : text.substr(0, kMaxMessageBytes)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

NodeAnswer malformed(std::string message) {
  NodeAnswer answer;
  answer.kind = AnswerKind::Malformed;
  answer.message = bounded(message);
  return answer;
}

bool isHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::optional<std::int64_t> parseDecimal(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// An int64 field written as a JSON number, or as a decimal string (GET int64_as_string=true).
std::optional<std::int64_t> int64Field(simdjson::dom::element element) {
  std::int64_t number = 0;
  if (element.get_int64().get(number) == simdjson::SUCCESS) return number;
  std::string_view text;
  if (element.get_string().get(text) == simdjson::SUCCESS) return parseDecimal(text);
  return std::nullopt;
}

// The error text classification of tron-api.md §7.
NodeAnswer classifyErrorText(std::string_view text) {
  NodeAnswer answer;
  answer.message = bounded(text);
  if (contains(text, "frequency limit") || contains(text, "suspended")) {
    answer.kind = AnswerKind::RateLimited;
    answer.suspended = contains(text, "suspended");
    // "... the query server is suspended for 30s"
    const auto at = text.find("suspended for ");
    if (at != std::string_view::npos) {
      auto rest = text.substr(at + 14);
      std::size_t digits = 0;
      while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
        ++digits;
      }
      if (auto seconds = parseDecimal(rest.substr(0, digits)); seconds && *seconds < 86'400) {
        answer.retry_after = std::chrono::seconds(*seconds);
      }
    }
  } else if (contains(text, "lack of computing resources")) {
    answer.kind = AnswerKind::RateLimited;  // java-tron's own limiter, non-blocking mode
  } else {
    answer.kind = AnswerKind::NodeError;
  }
  return answer;
}

}  // namespace

std::string_view answerKindName(AnswerKind kind) noexcept {
  switch (kind) {
    case AnswerKind::Blocks: return "blocks";
    case AnswerKind::NotFound: return "not_found";
    case AnswerKind::NodeError: return "node_error";
    case AnswerKind::RateLimited: return "rate_limited";
    case AnswerKind::ServerError: return "server_error";
    case AnswerKind::Malformed: return "malformed";
  }
  return "unknown";
}

struct BlockParser::Impl {
  simdjson::dom::parser dom;
  simdjson::ondemand::parser ondemand;

  // What a block's header says, before verification.
  struct HeaderFields {
    std::optional<std::string_view> id;
    std::optional<std::int64_t> number;
    bool number_invalid = false;
    std::optional<std::string_view> parent;
    std::optional<std::int64_t> timestamp;
    bool timestamp_invalid = false;
    bool has_raw_data = false;
  };

  // Verifies one block's header fields and fills `out` (raw_json is set by the caller).
  static std::optional<std::string> checkBlock(const HeaderFields& fields, ParsedBlock& out) {
    if (!fields.id) return "block has no blockID";
    const std::string_view id = *fields.id;
    if (id.size() != 64 || !isHex(id)) return "blockID is not 64 hex characters";
    if (!fields.has_raw_data) return "block has no block_header.raw_data";
    if (!fields.number && !fields.number_invalid) return "block has no number";
    if (!fields.number || *fields.number < 0) return "block number is not a non-negative integer";
    const std::int64_t number = *fields.number;
    std::uint64_t prefix = 0;
    std::from_chars(id.data(), id.data() + 16, prefix, 16);
    if (prefix != static_cast<std::uint64_t>(number)) {
      return "blockID does not start with the height " + std::to_string(number);
    }
    std::string_view parent;
    if (fields.parent) {
      parent = *fields.parent;
      if (parent.size() != 64 || !isHex(parent)) return "parentHash is not 64 hex characters";
    } else if (number != 0) {
      return "block " + std::to_string(number) + " has no parentHash";
    }
    if (fields.timestamp_invalid) return "block timestamp is not an integer";
    if (!fields.timestamp && number != 0) {
      return "block " + std::to_string(number) + " has no timestamp";
    }
    out.height = number;
    out.block_id = std::string(id);
    out.parent_id = std::string(parent);
    out.timestamp_ms = fields.timestamp.value_or(0);
    return std::nullopt;
  }

  // The DOM path: any whitespace, any key order.
  static std::optional<std::string> readBlock(simdjson::dom::element element, ParsedBlock& out) {
    simdjson::dom::object block;
    if (element.get_object().get(block) != simdjson::SUCCESS) return "block is not an object";
    HeaderFields fields;
    std::string_view id;
    if (block["blockID"].get_string().get(id) == simdjson::SUCCESS) fields.id = id;
    simdjson::dom::object raw;
    if (block.at_pointer("/block_header/raw_data").get_object().get(raw) == simdjson::SUCCESS) {
      fields.has_raw_data = true;
      simdjson::dom::element number_element;
      if (raw["number"].get(number_element) == simdjson::SUCCESS) {
        fields.number = int64Field(number_element);
        fields.number_invalid = !fields.number;
      }
      std::string_view parent;
      if (raw["parentHash"].get_string().get(parent) == simdjson::SUCCESS) fields.parent = parent;
      simdjson::dom::element ts_element;
      if (raw["timestamp"].get(ts_element) == simdjson::SUCCESS) {
        fields.timestamp = int64Field(ts_element);
        fields.timestamp_invalid = !fields.timestamp;
      }
    }
    return checkBlock(fields, out);
  }

  // An on-demand integer that java-tron writes as a number (or, with int64_as_string, a string).
  static std::optional<std::int64_t> int64Value(simdjson::ondemand::value value) {
    std::int64_t number = 0;
    if (value.get_int64().get(number) == simdjson::SUCCESS) return number;
    std::string_view text;
    if (value.get_string().get(text) == simdjson::SUCCESS) return parseDecimal(text);
    return std::nullopt;
  }

  // The hot path for {"block":[...]}: one on-demand pass reads each block's header fields and
  // its raw byte span together (the transactions are skipped, not parsed into a tree). Returns
  // nothing when the body is not of that shape, so the DOM path decides.
  std::optional<NodeAnswer> parseBlockList(const simdjson::padded_string& padded) {
    simdjson::ondemand::document doc;
    if (ondemand.iterate(padded).get(doc) != simdjson::SUCCESS) return std::nullopt;
    simdjson::ondemand::object root;
    if (doc.get_object().get(root) != simdjson::SUCCESS) return std::nullopt;
    simdjson::ondemand::array list;
    if (root["block"].get_array().get(list) != simdjson::SUCCESS) return std::nullopt;
    NodeAnswer answer;
    answer.kind = AnswerKind::Blocks;
    for (auto item : list) {
      const char* start = nullptr;
      if (doc.current_location().get(start) != simdjson::SUCCESS) return std::nullopt;
      simdjson::ondemand::object block;
      if (item.get_object().get(block) != simdjson::SUCCESS) {
        return malformed("block list element is not an object");
      }
      HeaderFields fields;
      for (auto field : block) {
        std::string_view key;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS) return std::nullopt;
        if (key == "blockID") {
          std::string_view id;
          if (field.value().get_string().get(id) == simdjson::SUCCESS) fields.id = id;
        } else if (key == "block_header") {
          simdjson::ondemand::object header;
          if (field.value().get_object().get(header) != simdjson::SUCCESS) continue;
          for (auto header_field : header) {
            std::string_view header_key;
            if (header_field.unescaped_key().get(header_key) != simdjson::SUCCESS) return std::nullopt;
            if (header_key != "raw_data") continue;
            simdjson::ondemand::object raw;
            if (header_field.value().get_object().get(raw) != simdjson::SUCCESS) continue;
            fields.has_raw_data = true;
            for (auto raw_field : raw) {
              std::string_view raw_key;
              if (raw_field.unescaped_key().get(raw_key) != simdjson::SUCCESS) return std::nullopt;
              simdjson::ondemand::value value;
              if (raw_field.value().get(value) != simdjson::SUCCESS) return std::nullopt;
              if (raw_key == "number") {
                fields.number = int64Value(value);
                fields.number_invalid = !fields.number;
              } else if (raw_key == "parentHash") {
                std::string_view parent;
                if (value.get_string().get(parent) == simdjson::SUCCESS) fields.parent = parent;
              } else if (raw_key == "timestamp") {
                fields.timestamp = int64Value(value);
                fields.timestamp_invalid = !fields.timestamp;
              }
            }
          }
        }
      }
      const char* end = nullptr;
      std::string_view raw;
      if (doc.current_location().get(end) == simdjson::SUCCESS) {
        // `end` is the ',' or ']' after the object: keep up to its closing '}'.
        raw = std::string_view(start, static_cast<std::size_t>(end - start));
        raw = raw.substr(0, raw.rfind('}') + 1);
      } else {
        // Past the last token: the rest is this object, then ']' and the root's '}'.
        raw = trim(std::string_view(start, static_cast<std::size_t>(
                                               padded.data() + padded.size() - start)));
        for (char closing : {'}', ']'}) {
          if (raw.empty() || raw.back() != closing) return std::nullopt;
          raw = trim(raw.substr(0, raw.size() - 1));
        }
      }
      if (raw.size() < 2 || raw.front() != '{' || raw.back() != '}') return std::nullopt;
      ParsedBlock parsed;
      if (auto problem = checkBlock(fields, parsed)) return malformed(std::move(*problem));
      parsed.raw_json = std::string(raw);
      answer.blocks.push_back(std::move(parsed));
    }
    return answer;
  }

  NodeAnswer parse(std::string_view body) {
    const auto text = trim(body);
    if (text.empty()) return malformed("empty body");
    if (text.front() != '{') return malformed("not a JSON object: " + std::string(text.substr(0, 80)));
    const simdjson::padded_string padded(text);
    // java-tron's compact list answer, the catch-up hot path: one pass (see parseBlockList).
    if (text.starts_with(R"({"block":[)")) {
      if (auto answer = parseBlockList(padded)) return std::move(*answer);
    }
    simdjson::dom::element root;
    if (auto error = dom.parse(padded).get(root); error != simdjson::SUCCESS) {
      return malformed(std::string("invalid JSON: ") + simdjson::error_message(error));
    }
    simdjson::dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) return malformed("not a JSON object");
    if (object.size() == 0) {
      NodeAnswer answer;
      answer.kind = AnswerKind::NotFound;
      return answer;
    }
    std::string_view error_text;
    if (object["Error"].get_string().get(error_text) == simdjson::SUCCESS) {
      return classifyErrorText(error_text);
    }
    NodeAnswer answer;
    answer.kind = AnswerKind::Blocks;
    simdjson::dom::array list;
    if (object["block"].get_array().get(list) == simdjson::SUCCESS) {
      // Raw bytes of each element come from an on-demand pass over the same (validated) buffer.
      std::vector<std::string_view> raws;
      simdjson::ondemand::document doc;
      simdjson::ondemand::array raw_list;
      if (ondemand.iterate(padded).get(doc) != simdjson::SUCCESS ||
          doc["block"].get_array().get(raw_list) != simdjson::SUCCESS) {
        return malformed("block list cannot be iterated");
      }
      for (auto item : raw_list) {
        simdjson::ondemand::object item_object;
        std::string_view raw;
        if (item.get_object().get(item_object) != simdjson::SUCCESS ||
            item_object.raw_json().get(raw) != simdjson::SUCCESS) {
          return malformed("block list element is not an object");
        }
        raws.push_back(trim(raw));
      }
      if (raws.size() != list.size()) return malformed("block list changed between passes");
      std::size_t index = 0;
      for (auto element : list) {
        ParsedBlock block;
        if (auto problem = readBlock(element, block)) return malformed(std::move(*problem));
        block.raw_json = std::string(raws[index++]);
        answer.blocks.push_back(std::move(block));
      }
      return answer;
    }
    if (object["blockID"].error() == simdjson::SUCCESS) {
      ParsedBlock block;
      if (auto problem = readBlock(root, block)) return malformed(std::move(*problem));
      block.raw_json = std::string(text);
      answer.blocks.push_back(std::move(block));
      return answer;
    }
    return malformed("neither a block, a block list, {} nor an Error");
  }
};

BlockParser::BlockParser() : impl_(std::make_unique<Impl>()) {}
BlockParser::~BlockParser() = default;

NodeAnswer BlockParser::parseBody(std::string_view body) noexcept {
  try {
    return impl_->parse(body);
  } catch (const std::exception& e) {  // std::bad_alloc from a huge body
    return malformed(std::string("parser failure: ") + e.what());
  }
}

NodeAnswer BlockParser::interpret(int http_status, std::string_view retry_after,
                                  std::string_view body, std::int64_t now_unix_ms) noexcept {
  if (http_status == 200) return parseBody(body);
  // Error bodies of other statuses are JSON or not; only their text matters.
  NodeAnswer from_body;
  const auto text = trim(body);
  if (!text.empty() && text.front() == '{') from_body = parseBody(text);
  const auto header = parseRetryAfter(retry_after, now_unix_ms);
  NodeAnswer answer;
  answer.message = !from_body.message.empty()
                       ? from_body.message
                       : "HTTP " + std::to_string(http_status);
  const bool body_limit = from_body.kind == AnswerKind::RateLimited;
  if (http_status == 429 || http_status == 403 || body_limit ||
      (http_status == 503 && header.has_value())) {
    answer.kind = AnswerKind::RateLimited;
    // TronGrid blocks an address for 30 s with 403; a body saying "suspended" says so too.
    answer.suspended = http_status == 403 || from_body.suspended;
    answer.retry_after = header ? header : from_body.retry_after;
  } else if (http_status >= 500) {
    answer.kind = AnswerKind::ServerError;
  } else {
    answer.kind = AnswerKind::NodeError;
  }
  return answer;
}

std::optional<Millis> parseRetryAfter(std::string_view value, std::int64_t now_unix_ms) noexcept {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (auto seconds = parseDecimal(value)) {
    if (*seconds < 0 || *seconds > 86'400 * 7) return std::nullopt;
    return std::chrono::seconds(*seconds);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (value.size() != 29 || value.substr(25) != " GMT") return std::nullopt;
  std::tm tm{};
  const std::string copy(value);
  char month[4] = {};
  if (std::sscanf(copy.c_str() + 5, "%2d %3c %4d %2d:%2d:%2d", &tm.tm_mday, month, &tm.tm_year,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  const auto at = kMonths.find(std::string_view(month, 3));
  if (at == std::string_view::npos || at % 3 != 0) return std::nullopt;
  tm.tm_mon = static_cast<int>(at / 3);
  tm.tm_year -= 1900;
  const std::int64_t when_ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  return Millis(std::max<std::int64_t>(0, when_ms - now_unix_ms));
}

}  // namespace stages::fetcher
