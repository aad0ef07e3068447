#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "pipeline/status.h"

namespace stages::aggregator {

/** The fields of a `block.v1` block that the statistics use (schemas/block.v1.schema.json). */
struct BlockInput {
  std::uint64_t height = 0;
  std::string block_id;   // 64 lower-case hex; [0:16] is the height
  std::string parent_id;  // 64 lower-case hex
  std::int64_t timestamp_ms = 0;
  std::string witness;      // T-address
  std::string witness_hex;  // 41… hex
  std::uint64_t tx_count = 0;
  std::uint64_t tx_failed = 0;
  std::string trx_transferred_sun = "0";  // decimal, exact
  std::uint64_t trc20_transfers = 0;
  std::uint64_t usdt_transfers = 0;
  std::string usdt_volume = "0";  // decimal, exact
  int last_digit = 0;
  bool is_odd = false;

  friend bool operator==(const BlockInput&, const BlockInput&) = default;
};

/** `{"removed":true,…}`: the block `block_id` at `height` left the chain. */
struct Retraction {
  std::uint64_t height = 0;
  std::string block_id;

  friend bool operator==(const Retraction&, const Retraction&) = default;
};

/** One value of the `blocks` topic. */
using BlockRecord = std::variant<BlockInput, Retraction>;

/**
 * The last digit of a blockID (architecture §3): the last character in 0–9, scanning from the
 * end and skipping hex letters; a `0x` prefix is ignored. nullopt when there is no digit.
 */
std::optional<int> lastDigitOf(std::string_view block_id) noexcept;

/**
 * Parses `block.v1` values (simdjson). Keeps its parser buffers between calls, so one instance
 * per thread; not shareable.
 *
 * Validation: `schema` is "block.v1"; hashes are 64 lower-case hex; addresses match their
 * patterns; counters are non-negative integers;
 * amounts are decimal strings (`0|[1-9][0-9]*`, at most 80 digits); `last_digit`/`is_odd` equal
 * what the block_id gives (the aggregator must never fold a digit it did not check). Unknown
 * fields are ignored (additive changes within v1). That block_id[0:16] is the height is the
 * decoder's check (it verifies blocks against the node's data); the aggregator trusts it.
 *
 * Errors: InvalidPayload with a one-line reason starting with a machine code
 * (`invalid_json`, `wrong_schema`, `missing_field:<name>`, `bad_field:<name>`,
 * `last_digit_mismatch`) — what the wiring puts in the DLQ `error`
 * header.
 */
class BlockInputParser {
 public:
  BlockInputParser();
  ~BlockInputParser();
  BlockInputParser(BlockInputParser&&) noexcept;
  BlockInputParser& operator=(BlockInputParser&&) noexcept;

  [[nodiscard]] pipeline::Result<BlockRecord> parse(std::string_view json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stages::aggregator
