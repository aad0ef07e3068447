#include "stages/aggregator/block_input.h"

#include <simdjson.h>

#include <algorithm>

namespace stages::aggregator {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr std::size_t kMaxDecimalDigits = 80;  // defs.schema.json#/$defs/decimal

Error invalid(std::string message) { return Error{ErrorType::InvalidPayload, std::move(message)}; }
Error missing(std::string_view field) { return invalid("missing_field:" + std::string(field)); }
Error bad(std::string_view field, std::string_view why) {
  return invalid("bad_field:" + std::string(field) + " (" + std::string(why) + ")");
}

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool isDecimal(std::string_view text) {
  if (text.empty() || text.size() > kMaxDecimalDigits) return false;
  if (text.size() > 1 && text.front() == '0') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool isBase58(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '1' && c <= '9') || (c >= 'A' && c <= 'H') || (c >= 'J' && c <= 'N') ||
           (c >= 'P' && c <= 'Z') || (c >= 'a' && c <= 'k') || (c >= 'm' && c <= 'z');
  });
}

// The field readers return an error naming the field, or nullopt when the value was stored.
std::optional<Error> readString(const object& block, std::string_view field, std::string& out) {
  element value;
  if (block[field].get(value) != simdjson::SUCCESS) return missing(field);
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return bad(field, "not a string");
  out.assign(text);
  return std::nullopt;
}

std::optional<Error> readUint(const object& block, std::string_view field, std::uint64_t& out) {
  element value;
  if (block[field].get(value) != simdjson::SUCCESS) return missing(field);
  if (value.get_uint64().get(out) != simdjson::SUCCESS) {
    return bad(field, "not a non-negative integer");
  }
  return std::nullopt;
}

std::optional<Error> readHash(const object& block, std::string_view field, std::string& out) {
  if (auto error = readString(block, field, out)) return error;
  if (out.size() != 64 || !isLowerHex(out)) return bad(field, "not 64 lower-case hex digits");
  return std::nullopt;
}

std::optional<Error> readDecimal(const object& block, std::string_view field, std::string& out) {
  if (auto error = readString(block, field, out)) return error;
  if (!isDecimal(out)) return bad(field, "not a decimal string");
  return std::nullopt;
}

pipeline::Result<BlockRecord> readRetraction(const object& value) {
  Retraction retraction;
  if (auto error = readUint(value, "height", retraction.height)) return *error;
  if (auto error = readHash(value, "block_id", retraction.block_id)) return *error;
  return BlockRecord{std::move(retraction)};
}

pipeline::Result<BlockRecord> readBlock(const object& value) {
  BlockInput block;
  std::uint64_t timestamp = 0;
  std::uint64_t digit = 0;
  bool is_odd = false;
  const std::optional<Error> errors[] = {
      readUint(value, "height", block.height),
      readHash(value, "block_id", block.block_id),
      readHash(value, "parent_id", block.parent_id),
      readUint(value, "timestamp_ms", timestamp),
      readString(value, "witness", block.witness),
      readString(value, "witness_hex", block.witness_hex),
      readUint(value, "tx_count", block.tx_count),
      readUint(value, "tx_failed", block.tx_failed),
      readDecimal(value, "trx_transferred_sun", block.trx_transferred_sun),
      readUint(value, "trc20_transfers", block.trc20_transfers),
      readUint(value, "usdt_transfers", block.usdt_transfers),
      readDecimal(value, "usdt_volume", block.usdt_volume),
      readUint(value, "last_digit", digit),
  };
  for (const auto& error : errors) {
    if (error) return *error;
  }
  element odd;
  if (value["is_odd"].get(odd) != simdjson::SUCCESS) return missing("is_odd");
  if (odd.get_bool().get(is_odd) != simdjson::SUCCESS) return bad("is_odd", "not a boolean");
  if (timestamp > static_cast<std::uint64_t>(INT64_MAX)) return bad("timestamp_ms", "too large");
  block.timestamp_ms = static_cast<std::int64_t>(timestamp);
  if (block.witness.size() != 34 || block.witness.front() != 'T' || !isBase58(block.witness)) {
    return bad("witness", "not a T-address");
  }
  if (block.witness_hex.size() != 42 || !block.witness_hex.starts_with("41") ||
      !isLowerHex(block.witness_hex)) {
    return bad("witness_hex", "not a 41-prefixed hex address");
  }
  const auto computed = lastDigitOf(block.block_id);
  if (!computed || static_cast<std::uint64_t>(*computed) != digit || (*computed % 2 == 1) != is_odd) {
    return invalid("last_digit_mismatch (last_digit/is_odd disagree with block_id)");
  }
  block.last_digit = *computed;
  block.is_odd = is_odd;
  return BlockRecord{std::move(block)};
}

}  // namespace

std::optional<int> lastDigitOf(std::string_view block_id) noexcept {
  if (block_id.starts_with("0x") || block_id.starts_with("0X")) block_id.remove_prefix(2);
  for (auto it = block_id.rbegin(); it != block_id.rend(); ++it) {
    if (*it >= '0' && *it <= '9') return *it - '0';
  }
  return std::nullopt;
}

struct BlockInputParser::Impl {
  simdjson::dom::parser parser;
};

BlockInputParser::BlockInputParser() : impl_(std::make_unique<Impl>()) {}
BlockInputParser::~BlockInputParser() = default;
BlockInputParser::BlockInputParser(BlockInputParser&&) noexcept = default;
BlockInputParser& BlockInputParser::operator=(BlockInputParser&&) noexcept = default;

pipeline::Result<BlockRecord> BlockInputParser::parse(std::string_view json) {
  element root;
  if (impl_->parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
    return invalid("invalid_json");
  }
  object value;
  if (root.get_object().get(value) != simdjson::SUCCESS) return invalid("invalid_json (not an object)");
  std::string_view schema;
  if (value["schema"].get_string().get(schema) != simdjson::SUCCESS || schema != "block.v1") {
    return invalid("wrong_schema (expected \"block.v1\")");
  }
  bool removed = false;
  element removed_field;
  if (value["removed"].get(removed_field) == simdjson::SUCCESS &&
      removed_field.get_bool().get(removed) != simdjson::SUCCESS) {
    return bad("removed", "not a boolean");
  }
  return removed ? readRetraction(value) : readBlock(value);
}

}  // namespace stages::aggregator
