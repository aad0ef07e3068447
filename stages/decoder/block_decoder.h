#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "stages/decoder/tron_address.h"

namespace stages::decoder {

/** The TRON network whose USDT contract counts as `usdt_*` (tron-api.md §5). */
enum class Network { Mainnet, Shasta, Nile };

std::string_view networkName(Network network) noexcept;
/** "mainnet" / "shasta" / "nile" → Network; nullopt for anything else. */
std::optional<Network> parseNetwork(std::string_view name) noexcept;
/**
 * The network's USDT TRC-20 contract (wallet-cli NetType.usdtAddress): mainnet
 * TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t, Shasta TG3XXyExBkPp9nzdajDZsozEu4BkaSJozs, Nile
 * TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf.
 */
const TronAddress& usdtContract(Network network) noexcept;

struct DecoderOptions {
  Network network = Network::Mainnet;
  /** Check every `txID == sha256(hex_decode(raw_data_hex))` (costs one SHA-256 per transaction). */
  bool verify_tx_ids = false;
};

/**
 * Why a block was rejected. The names are bounded (the `reason` label of
 * point_tron_decoder_rejected_blocks_total) and start the DLQ `error` header.
 */
enum class RejectReason {
  InvalidJson,            // not JSON, truncated, or trailing bytes after the object
  EmptyBlock,             // `{}`: what a node answers for a block it does not have
  MissingField,           // a required field is absent
  WrongType,              // a field has the wrong JSON type (or a fraction where an integer belongs)
  NumberOutOfRange,       // an integer outside its type (negative, above int64/uint64)
  BadHex,                 // a hash or hex field that is not hex of the right length
  BadAddress,             // an address that is neither 41… hex nor a base58 T-address
  BadAddressChecksum,     // a base58 address whose double-SHA-256 checksum does not match
  BlockIdHeightMismatch,  // blockID[0:16] is not the zero-padded hex height
  TxidMismatch,           // txID != sha256(raw_data_hex) (only with verify_tx_ids)
};
inline constexpr std::size_t kRejectReasons = static_cast<std::size_t>(RejectReason::TxidMismatch) + 1;

/** "invalid_json", "missing_field", … */
std::string_view rejectReasonName(RejectReason reason) noexcept;

/** A rejected block: the reason, the field it concerns and where. */
struct DecodeError {
  RejectReason reason = RejectReason::InvalidJson;
  /** JSON path without indices (`block_header.raw_data.number`, `transactions.txID`), or empty. */
  std::string field;
  /** Human detail (which transaction, what was found); may be empty. */
  std::string detail;

  /** The short machine reason: `missing_field:block_header.raw_data.number`, `empty_block`. */
  std::string code() const;
  /** code() and the detail: the DLQ `error` header and log lines, one line. */
  std::string describe() const;
};

/** Transactions of one contract type in a block. */
struct TypeCount {
  std::string type;
  std::uint64_t count = 0;

  friend bool operator==(const TypeCount&, const TypeCount&) = default;
};

/** What a block contains: the values of `block.v1` that come from the block itself. */
struct BlockSummary {
  std::uint64_t height = 0;
  std::string block_id;   // 64 lower-case hex
  std::string parent_id;  // 64 lower-case hex
  std::int64_t timestamp_ms = 0;
  std::string witness;      // T-address
  std::string witness_hex;  // 41…
  std::int64_t version = 0;  // 0 when absent
  std::uint64_t tx_count = 0;
  std::vector<TypeCount> tx_by_type;  // sorted by type name
  std::uint64_t tx_failed = 0;
  std::string trx_transferred_sun = "0";  // decimal: sums of int64 amounts exceed 64 bits
  std::uint64_t trc20_transfers = 0;
  std::uint64_t usdt_transfers = 0;
  std::string usdt_volume = "0";  // decimal sum of uint256 amount words, base units
  int last_digit = 0;
  bool is_odd = false;
  std::uint64_t size_bytes = 0;
};

/** A fetcher retraction (`block.raw.retraction.v1`): the block at `height` was orphaned. */
struct BlockRetraction {
  std::uint64_t height = 0;
  std::string block_id;
};

/** Where and when: the record's `fetched_at_ms` and `source` headers and the decode time. */
struct Provenance {
  std::optional<std::int64_t> fetched_at_ms;
  std::int64_t decoded_at_ms = 0;
  std::string source;
};

/** The outcome of decoding one blocks.raw value. */
class DecodeResult {
 public:
  DecodeResult(BlockSummary block) : value_(std::move(block)) {}            // NOLINT: implicit
  DecodeResult(BlockRetraction retraction) : value_(std::move(retraction)) {}  // NOLINT: implicit
  DecodeResult(DecodeError error) : value_(std::move(error)) {}            // NOLINT: implicit

  bool ok() const noexcept { return !std::holds_alternative<DecodeError>(value_); }
  explicit operator bool() const noexcept { return ok(); }
  bool isBlock() const noexcept { return std::holds_alternative<BlockSummary>(value_); }
  bool isRetraction() const noexcept { return std::holds_alternative<BlockRetraction>(value_); }
  const BlockSummary& block() const { return std::get<BlockSummary>(value_); }
  const BlockRetraction& retraction() const { return std::get<BlockRetraction>(value_); }
  const DecodeError& error() const { return std::get<DecodeError>(value_); }

 private:
  std::variant<BlockSummary, BlockRetraction, DecodeError> value_;
};

/**
 * The `block.v1` JSON of a decoded result (compact, keys in the documented order,
 * stages/decoder/README.md). Precondition: `result.ok()`.
 */
std::string blockV1Json(const DecodeResult& result, const Provenance& provenance);

/**
 * Decodes one node block (java-tron JSON, hex or visible=true addresses, any key order and
 * whitespace) or a fetcher retraction into a DecodeResult, in one simdjson on-demand pass over the
 * bytes. Values that are not needed are skipped, not validated beyond the JSON structure.
 * Integers are read exactly (never through double); TRX and USDT sums are exact decimals.
 *
 * Lifecycle: construct once and reuse (the parser and the padded copy keep their buffers). Not
 * thread-safe: one instance per thread. No exception escapes decode(); a failure is a DecodeError
 * (an allocation failure is reported as invalid_json with its detail).
 */
class BlockDecoder {
 public:
  explicit BlockDecoder(DecoderOptions options = {});
  ~BlockDecoder();
  BlockDecoder(const BlockDecoder&) = delete;
  BlockDecoder& operator=(const BlockDecoder&) = delete;

  const DecoderOptions& options() const noexcept { return options_; }

  /** Decodes `json`, the bytes as received; BlockSummary::size_bytes is `json.size()`. */
  DecodeResult decode(std::string_view json) noexcept;

 private:
  struct Impl;
  DecoderOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stages::decoder
