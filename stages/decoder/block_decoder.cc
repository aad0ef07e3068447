#include "stages/decoder/block_decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include "pipeline/json.h"
#include "pipeline/amount_sum.h"
#include "stages/decoder/bytes.h"

namespace stages::decoder {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kTransferContract = "TransferContract";
constexpr std::string_view kTriggerSmartContract = "TriggerSmartContract";
constexpr std::string_view kSuccess = "SUCCESS";
// TRC-20 selectors (tron-api.md §5): transfer(address,uint256) carries one address word before
// the amount, transferFrom(address,address,uint256) two.
constexpr std::string_view kTransferSelector = "a9059cbb";
constexpr std::string_view kTransferFromSelector = "23b872dd";
constexpr std::size_t kSelectorHex = 8;
constexpr std::size_t kWordHex = 64;
constexpr std::size_t kHashHex = 64;
constexpr std::uint64_t kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// Field paths as they appear in reasons; indices are left out so the set stays bounded.
namespace field {
constexpr std::string_view kRoot = "block";
constexpr std::string_view kBlockId = "blockID";
constexpr std::string_view kHeader = "block_header";
constexpr std::string_view kRawData = "block_header.raw_data";
constexpr std::string_view kNumber = "block_header.raw_data.number";
constexpr std::string_view kParentHash = "block_header.raw_data.parentHash";
constexpr std::string_view kTimestamp = "block_header.raw_data.timestamp";
constexpr std::string_view kWitness = "block_header.raw_data.witness_address";
constexpr std::string_view kVersion = "block_header.raw_data.version";
constexpr std::string_view kTransactions = "transactions";
constexpr std::string_view kRet = "transactions.ret";
constexpr std::string_view kContractRet = "transactions.ret.contractRet";
constexpr std::string_view kTxRawData = "transactions.raw_data";
constexpr std::string_view kContract = "transactions.raw_data.contract";
constexpr std::string_view kContractType = "transactions.raw_data.contract.type";
constexpr std::string_view kParameter = "transactions.raw_data.contract.parameter";
constexpr std::string_view kValue = "transactions.raw_data.contract.parameter.value";
constexpr std::string_view kAmount = "transactions.raw_data.contract.parameter.value.amount";
constexpr std::string_view kData = "transactions.raw_data.contract.parameter.value.data";
constexpr std::string_view kContractAddress =
    "transactions.raw_data.contract.parameter.value.contract_address";
constexpr std::string_view kTxId = "transactions.txID";
constexpr std::string_view kRawDataHex = "transactions.raw_data_hex";
constexpr std::string_view kRemoved = "removed";
constexpr std::string_view kHeight = "height";
constexpr std::string_view kRetractedId = "block_id";
}  // namespace field

DecodeError reject(RejectReason reason, std::string_view path = {}, std::string detail = {}) {
  return DecodeError{reason, std::string(path), std::move(detail)};
}

// A simdjson error while reading `path`: a type mismatch names the field; anything else means
// the bytes are not (complete) JSON.
DecodeError jsonError(simdjson::error_code code, std::string_view path) {
  if (code == simdjson::INCORRECT_TYPE) return reject(RejectReason::WrongType, path);
  std::string detail = simdjson::error_message(code);
  if (!path.empty()) detail = "at " + std::string(path) + ": " + detail;
  return reject(RejectReason::InvalidJson, {}, std::move(detail));
}

bool isHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return hexDigitValue(c) >= 0; });
}

// A 32-byte hash as nodes write it (64 hex digits; a "0x" prefix is tolerated), lower-cased.
std::optional<std::string> normalizedHash(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.size() != kHashHex || !isHex(text)) return std::nullopt;
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

bool startsWithIgnoringCase(std::string_view text, std::string_view lower_prefix) {
  if (text.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    const char c = text[i];
    const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != lower_prefix[i]) return false;
  }
  return true;
}

// An integer token that get_uint64/get_int64 refused: a fraction or exponent is the wrong type,
// a plain (possibly negative) run of digits is out of range for the field.
DecodeError integerRefused(od::value& value, std::string_view path) {
  std::string_view token = value.raw_json_token();
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' ||
                            token.back() == '\t')) {
    token.remove_suffix(1);
  }
  std::string_view digits = token;
  if (digits.starts_with('-')) digits.remove_prefix(1);
  const bool integral = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  return reject(integral ? RejectReason::NumberOutOfRange : RejectReason::WrongType, path);
}

// Parses a decimal string (java-tron's int64_as_string form) into T.
template <typename T>
std::optional<DecodeError> decimalString(std::string_view text, std::string_view path, T& out) {
  std::string_view digits = text;
  if (digits.starts_with('-')) digits.remove_prefix(1);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return reject(RejectReason::WrongType, path);
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return reject(RejectReason::NumberOutOfRange, path);
  }
  return std::nullopt;
}

// An unsigned integer in [0, max], as a JSON number or a decimal string; exact, never a double.
std::optional<DecodeError> readUnsigned(od::value value, std::string_view path, std::uint64_t max,
                                        std::uint64_t& out) {
  const auto error = value.get_uint64().get(out);
  if (error == simdjson::SUCCESS) {
    if (out > max) return reject(RejectReason::NumberOutOfRange, path);
    return std::nullopt;
  }
  if (error != simdjson::INCORRECT_TYPE && error != simdjson::NUMBER_OUT_OF_RANGE) {
    return jsonError(error, path);
  }
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    if (auto problem = decimalString(text, path, out)) return problem;
    if (out > max) return reject(RejectReason::NumberOutOfRange, path);
    return std::nullopt;
  }
  return integerRefused(value, path);
}

// A signed integer in [min, max], as a JSON number or a decimal string.
std::optional<DecodeError> readSigned(od::value value, std::string_view path, std::int64_t min,
                                      std::int64_t max, std::int64_t& out) {
  auto error = value.get_int64().get(out);
  if (error == simdjson::INCORRECT_TYPE || error == simdjson::NUMBER_OUT_OF_RANGE) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) return integerRefused(value, path);
    if (auto problem = decimalString(text, path, out)) return problem;
    error = simdjson::SUCCESS;
  }
  if (error != simdjson::SUCCESS) return jsonError(error, path);
  if (out < min || out > max) return reject(RejectReason::NumberOutOfRange, path);
  return std::nullopt;
}

std::optional<DecodeError> readString(od::value value, std::string_view path, std::string_view& out) {
  if (const auto error = value.get_string().get(out); error != simdjson::SUCCESS) {
    return jsonError(error, path);
  }
  return std::nullopt;
}

std::optional<DecodeError> readObject(od::value value, std::string_view path, od::object& out) {
  if (const auto error = value.get_object().get(out); error != simdjson::SUCCESS) {
    return jsonError(error, path);
  }
  return std::nullopt;
}

std::optional<DecodeError> readArray(od::value value, std::string_view path, od::array& out) {
  if (const auto error = value.get_array().get(out); error != simdjson::SUCCESS) {
    return jsonError(error, path);
  }
  return std::nullopt;
}

// Propagates an error from a helper returning std::optional<DecodeError>.
#define DECODER_RETURN_IF_ERROR(expr)          \
  do {                                         \
    if (auto problem_ = (expr)) return *problem_; \
  } while (false)

// What one transaction contributes; views point into the parser's buffers for this document.
struct TransactionFields {
  std::optional<std::string_view> contract_ret;
  bool has_raw_data = false;
  bool has_contract = false;
  std::optional<std::string_view> type;
  std::uint64_t amount = 0;  // TransferContract.amount; omitted (0) when zero
  std::optional<DecodeError> amount_problem;  // only matters for a TransferContract
  std::optional<std::string_view> data;
  std::optional<std::string_view> contract_address;
  std::optional<std::string_view> tx_id;
  std::optional<std::string_view> raw_data_hex;
};

struct HeaderFields {
  bool has_raw_data = false;
  std::optional<std::uint64_t> number;
  std::optional<std::string_view> parent_hash;
  std::optional<std::int64_t> timestamp;
  std::optional<std::string_view> witness;
  std::int64_t version = 0;
};

// Per-type counts while decoding: few distinct types per block, so a linear scan beats a map.
class TypeCounter {
 public:
  void reset() { counts_.clear(); }
  void add(std::string_view type) {
    for (auto& [name, count] : counts_) {
      if (name == type) {
        ++count;
        return;
      }
    }
    counts_.emplace_back(type, 1);
  }
  std::vector<TypeCount> sorted() const {
    std::vector<TypeCount> out;
    out.reserve(counts_.size());
    for (const auto& [name, count] : counts_) out.push_back(TypeCount{std::string(name), count});
    std::sort(out.begin(), out.end(),
              [](const TypeCount& a, const TypeCount& b) { return a.type < b.type; });
    return out;
  }

 private:
  std::vector<std::pair<std::string_view, std::uint64_t>> counts_;
};

std::string transactionDetail(std::uint64_t index) {
  return "transaction " + std::to_string(index);
}

std::optional<DecodeError> addressProblem(AddressProblem problem, std::string_view path,
                                          std::string detail = {}) {
  return reject(problem == AddressProblem::BadChecksum ? RejectReason::BadAddressChecksum
                                                       : RejectReason::BadAddress,
                path, std::move(detail));
}

}  // namespace

std::string_view networkName(Network network) noexcept {
  switch (network) {
    case Network::Mainnet: return "mainnet";
    case Network::Shasta: return "shasta";
    case Network::Nile: return "nile";
  }
  return "mainnet";
}

std::optional<Network> parseNetwork(std::string_view name) noexcept {
  for (Network network : {Network::Mainnet, Network::Shasta, Network::Nile}) {
    if (networkName(network) == name) return network;
  }
  return std::nullopt;
}

const TronAddress& usdtContract(Network network) noexcept {
  static const TronAddress kMainnet{{0x41, 0xa6, 0x14, 0xf8, 0x03, 0xb6, 0xfd, 0x78, 0x09, 0x86, 0xa4,
                                     0x2c, 0x78, 0xec, 0x9c, 0x7f, 0x77, 0xe6, 0xde, 0xd1, 0x3c}};
  static const TronAddress kShasta{{0x41, 0x42, 0xa1, 0xe3, 0x9a, 0xef, 0xa4, 0x92, 0x90, 0xf2, 0xb3,
                                    0xf9, 0xed, 0x68, 0x8d, 0x7c, 0xec, 0xf8, 0x6c, 0xd6, 0xe0}};
  static const TronAddress kNile{{0x41, 0xec, 0xa9, 0xbc, 0x82, 0x8a, 0x30, 0x05, 0xb9, 0xa3, 0xb9,
                                  0x09, 0xf2, 0xcc, 0x5c, 0x2a, 0x54, 0x79, 0x4d, 0xe0, 0x5f}};
  switch (network) {
    case Network::Mainnet: return kMainnet;
    case Network::Shasta: return kShasta;
    case Network::Nile: return kNile;
  }
  return kMainnet;
}

std::string_view rejectReasonName(RejectReason reason) noexcept {
  switch (reason) {
    case RejectReason::InvalidJson: return "invalid_json";
    case RejectReason::EmptyBlock: return "empty_block";
    case RejectReason::MissingField: return "missing_field";
    case RejectReason::WrongType: return "wrong_type";
    case RejectReason::NumberOutOfRange: return "number_out_of_range";
    case RejectReason::BadHex: return "bad_hex";
    case RejectReason::BadAddress: return "bad_address";
    case RejectReason::BadAddressChecksum: return "bad_address_checksum";
    case RejectReason::BlockIdHeightMismatch: return "block_id_height_mismatch";
    case RejectReason::TxidMismatch: return "txid_mismatch";
  }
  return "invalid_json";
}

std::string DecodeError::code() const {
  std::string out(rejectReasonName(reason));
  if (!field.empty()) out.append(":").append(field);
  return out;
}

std::string DecodeError::describe() const {
  return detail.empty() ? code() : code() + " (" + detail + ")";
}

std::string blockV1Json(const DecodeResult& result, const Provenance& provenance) {
  pipeline::json::Writer writer;
  writer.beginObject().field("schema", "block.v1");
  if (result.isRetraction()) {
    const auto& retraction = result.retraction();
    writer.field("removed", true)
        .field("height", retraction.height)
        .field("block_id", retraction.block_id)
        .field("decoded_at_ms", provenance.decoded_at_ms)
        .field("source", provenance.source)
        .endObject();
    return std::move(writer).str();
  }
  const auto& block = result.block();
  writer.field("height", block.height)
      .field("block_id", block.block_id)
      .field("parent_id", block.parent_id)
      .field("timestamp_ms", block.timestamp_ms)
      .field("witness", block.witness)
      .field("witness_hex", block.witness_hex)
      .field("version", block.version)
      .field("tx_count", block.tx_count)
      .key("tx_by_type")
      .beginObject();
  for (const auto& entry : block.tx_by_type) writer.field(entry.type, entry.count);
  writer.endObject()
      .field("tx_failed", block.tx_failed)
      .field("trx_transferred_sun", block.trx_transferred_sun)
      .field("trc20_transfers", block.trc20_transfers)
      .field("usdt_transfers", block.usdt_transfers)
      .field("usdt_volume", block.usdt_volume)
      .field("last_digit", block.last_digit)
      .field("is_odd", block.is_odd)
      .field("size_bytes", block.size_bytes)
      .key("fetched_at_ms");
  if (provenance.fetched_at_ms) {
    writer.value(*provenance.fetched_at_ms);
  } else {
    writer.null();
  }
  writer.field("decoded_at_ms", provenance.decoded_at_ms)
      .field("source", provenance.source)
      .endObject();
  return std::move(writer).str();
}

struct BlockDecoder::Impl {
  explicit Impl(const DecoderOptions& options)
      : options(options), usdt(usdtContract(options.network)), usdt_base58(usdt.base58()) {}

  DecoderOptions options;
  TronAddress usdt;
  std::string usdt_base58;  // base58 is canonical: equal text is the same, valid address
  od::parser parser;
  // Whole-document validation for the rare input whose root is not an object: on-demand judges
  // a root by its first character, so "this is not json" looks like a boolean to it.
  std::optional<simdjson::dom::parser> root_validator;
  std::string padded;  // the input plus SIMDJSON_PADDING, reused across documents
  std::string raw_bytes;  // decoded raw_data_hex (txID verification), reused
  TypeCounter types;

  // Running totals of the block being decoded.
  std::uint64_t tx_count = 0;
  std::uint64_t tx_failed = 0;
  std::uint64_t trc20_transfers = 0;
  std::uint64_t usdt_transfers = 0;
  pipeline::AmountSum trx_sun;
  pipeline::AmountSum usdt_volume;

  void resetTotals() {
    types.reset();
    tx_count = tx_failed = trc20_transfers = usdt_transfers = 0;
    trx_sun = pipeline::AmountSum{};
    usdt_volume = pipeline::AmountSum{};
  }

  std::optional<DecodeError> readHeader(od::value value, HeaderFields& header) {
    od::object object;
    DECODER_RETURN_IF_ERROR(readObject(value, field::kHeader, object));
    for (auto member : object) {
      od::field entry;
      if (const auto error = std::move(member).get(entry); error != simdjson::SUCCESS) {
        return jsonError(error, field::kHeader);
      }
      if (entry.key() != "raw_data") continue;
      od::object raw;
      DECODER_RETURN_IF_ERROR(readObject(entry.value(), field::kRawData, raw));
      header.has_raw_data = true;
      for (auto raw_member : raw) {
        od::field raw_entry;
        if (const auto error = std::move(raw_member).get(raw_entry); error != simdjson::SUCCESS) {
          return jsonError(error, field::kRawData);
        }
        const auto key = raw_entry.key();
        if (key == "number") {
          std::uint64_t number = 0;
          DECODER_RETURN_IF_ERROR(readUnsigned(raw_entry.value(), field::kNumber, kInt64Max, number));
          header.number = number;
        } else if (key == "parentHash") {
          std::string_view parent;
          DECODER_RETURN_IF_ERROR(readString(raw_entry.value(), field::kParentHash, parent));
          header.parent_hash = parent;
        } else if (key == "timestamp") {
          std::int64_t timestamp = 0;
          DECODER_RETURN_IF_ERROR(readSigned(raw_entry.value(), field::kTimestamp,
                                             std::numeric_limits<std::int64_t>::min(),
                                             std::numeric_limits<std::int64_t>::max(), timestamp));
          header.timestamp = timestamp;
        } else if (key == "witness_address") {
          std::string_view witness;
          DECODER_RETURN_IF_ERROR(readString(raw_entry.value(), field::kWitness, witness));
          header.witness = witness;
        } else if (key == "version") {
          // BlockHeader.raw.version is a protobuf int32.
          DECODER_RETURN_IF_ERROR(readSigned(raw_entry.value(), field::kVersion,
                                             std::numeric_limits<std::int32_t>::min(),
                                             std::numeric_limits<std::int32_t>::max(),
                                             header.version));
        }
      }
    }
    return std::nullopt;
  }

  // ret[0].contractRet; later entries (none in practice) do not decide success.
  std::optional<DecodeError> readRet(od::value value, TransactionFields& tx) {
    od::array results;
    DECODER_RETURN_IF_ERROR(readArray(value, field::kRet, results));
    bool first = true;
    for (auto element : results) {
      od::value result;
      if (const auto error = element.get(result); error != simdjson::SUCCESS) {
        return jsonError(error, field::kRet);
      }
      if (!first) continue;
      first = false;
      od::object object;
      DECODER_RETURN_IF_ERROR(readObject(result, field::kRet, object));
      for (auto member : object) {
        od::field entry;
        if (const auto error = std::move(member).get(entry); error != simdjson::SUCCESS) {
          return jsonError(error, field::kRet);
        }
        if (entry.key() != "contractRet") continue;
        std::string_view contract_ret;
        DECODER_RETURN_IF_ERROR(readString(entry.value(), field::kContractRet, contract_ret));
        tx.contract_ret = contract_ret;
      }
    }
    return std::nullopt;
  }

  std::optional<DecodeError> readParameterValue(od::value value, TransactionFields& tx) {
    od::object object;
    DECODER_RETURN_IF_ERROR(readObject(value, field::kValue, object));
    for (auto member : object) {
      od::field entry;
      if (const auto error = std::move(member).get(entry); error != simdjson::SUCCESS) {
        return jsonError(error, field::kValue);
      }
      const auto key = entry.key();
      if (key == "amount") {
        // Read for every contract type (the type may come later); only a TransferContract's
        // amount counts, so a problem is kept until the type is known.
        tx.amount_problem = readUnsigned(entry.value(), field::kAmount, kInt64Max, tx.amount);
        if (tx.amount_problem && tx.amount_problem->reason == RejectReason::InvalidJson) {
          return tx.amount_problem;
        }
      } else if (key == "data") {
        std::string_view data;
        DECODER_RETURN_IF_ERROR(readString(entry.value(), field::kData, data));
        tx.data = data;
      } else if (key == "contract_address") {
        std::string_view address;
        DECODER_RETURN_IF_ERROR(readString(entry.value(), field::kContractAddress, address));
        tx.contract_address = address;
      }
    }
    return std::nullopt;
  }

  // raw_data.contract[0]: its type and parameter.value. A transaction carries exactly one
  // contract in practice; later entries are skipped.
  std::optional<DecodeError> readTxRawData(od::value value, TransactionFields& tx) {
    od::object raw;
    DECODER_RETURN_IF_ERROR(readObject(value, field::kTxRawData, raw));
    tx.has_raw_data = true;
    for (auto member : raw) {
      od::field entry;
      if (const auto error = std::move(member).get(entry); error != simdjson::SUCCESS) {
        return jsonError(error, field::kTxRawData);
      }
      if (entry.key() != "contract") continue;
      od::array contracts;
      DECODER_RETURN_IF_ERROR(readArray(entry.value(), field::kContract, contracts));
      for (auto element : contracts) {
        od::value contract_value;
        if (const auto error = element.get(contract_value); error != simdjson::SUCCESS) {
          return jsonError(error, field::kContract);
        }
        if (tx.has_contract) continue;
        tx.has_contract = true;
        od::object contract;
        DECODER_RETURN_IF_ERROR(readObject(contract_value, field::kContract, contract));
        for (auto contract_member : contract) {
          od::field contract_entry;
          if (const auto error = std::move(contract_member).get(contract_entry); error != simdjson::SUCCESS) {
            return jsonError(error, field::kContract);
          }
          const auto key = contract_entry.key();
          if (key == "type") {
            std::string_view type;
            DECODER_RETURN_IF_ERROR(readString(contract_entry.value(), field::kContractType, type));
            tx.type = type;
          } else if (key == "parameter") {
            od::object parameter;
            DECODER_RETURN_IF_ERROR(readObject(contract_entry.value(), field::kParameter, parameter));
            for (auto parameter_member : parameter) {
              od::field parameter_entry;
              if (const auto error = std::move(parameter_member).get(parameter_entry);
                  error != simdjson::SUCCESS) {
                return jsonError(error, field::kParameter);
              }
              if (parameter_entry.key() != "value") continue;
              DECODER_RETURN_IF_ERROR(readParameterValue(parameter_entry.value(), tx));
            }
          }
        }
      }
    }
    return std::nullopt;
  }

  // Adds one transaction's facts to the block totals (all its fields are known by now).
  std::optional<DecodeError> account(const TransactionFields& tx, std::uint64_t index) {
    if (!tx.has_raw_data) return reject(RejectReason::MissingField, field::kTxRawData, transactionDetail(index));
    if (!tx.has_contract) return reject(RejectReason::MissingField, field::kContract, transactionDetail(index));
    if (!tx.type) return reject(RejectReason::MissingField, field::kContractType, transactionDetail(index));
    ++tx_count;
    types.add(*tx.type);
    // "Successful" = contractRet SUCCESS or absent (very old blocks have no ret).
    const bool failed = tx.contract_ret && *tx.contract_ret != kSuccess;
    if (failed) ++tx_failed;

    if (*tx.type == kTransferContract) {
      if (tx.amount_problem) {
        auto problem = *tx.amount_problem;
        problem.detail = transactionDetail(index);
        return problem;
      }
      trx_sun.add(tx.amount);
    } else if (*tx.type == kTriggerSmartContract && !failed && tx.data) {
      DECODER_RETURN_IF_ERROR(accountTokenTransfer(tx, index));
    }

    if (options.verify_tx_ids) DECODER_RETURN_IF_ERROR(verifyTxId(tx, index));
    return std::nullopt;
  }

  // A successful TriggerSmartContract: a TRC-20 transfer or transferFrom, and whether it moved
  // the network's USDT. Calldata too short to hold the amount word is not a transfer call.
  std::optional<DecodeError> accountTokenTransfer(const TransactionFields& tx, std::uint64_t index) {
    const std::string_view data = *tx.data;
    std::size_t amount_offset = 0;
    if (startsWithIgnoringCase(data, kTransferSelector)) {
      amount_offset = kSelectorHex + kWordHex;
    } else if (startsWithIgnoringCase(data, kTransferFromSelector)) {
      amount_offset = kSelectorHex + 2 * kWordHex;
    } else {
      return std::nullopt;
    }
    if (data.size() < amount_offset + kWordHex) return std::nullopt;
    ++trc20_transfers;
    if (!tx.contract_address) {
      return reject(RejectReason::MissingField, field::kContractAddress, transactionDetail(index));
    }
    // Most TRC-20 transfers are USDT: its visible=true text needs no base58 decoding and checksum.
    if (*tx.contract_address != usdt_base58) {
      const auto parsed = parseTronAddress(*tx.contract_address);
      if (const auto* problem = std::get_if<AddressProblem>(&parsed)) {
        return addressProblem(*problem, field::kContractAddress, transactionDetail(index));
      }
      if (std::get<TronAddress>(parsed) != usdt) return std::nullopt;
    }
    ++usdt_transfers;
    if (!usdt_volume.addHexWord(data.substr(amount_offset, kWordHex))) {
      return reject(RejectReason::BadHex, field::kData, transactionDetail(index));
    }
    return std::nullopt;
  }

  std::optional<DecodeError> verifyTxId(const TransactionFields& tx, std::uint64_t index) {
    if (!tx.tx_id) return reject(RejectReason::MissingField, field::kTxId, transactionDetail(index));
    if (!tx.raw_data_hex) {
      return reject(RejectReason::MissingField, field::kRawDataHex, transactionDetail(index));
    }
    const auto expected = normalizedHash(*tx.tx_id);
    if (!expected) return reject(RejectReason::BadHex, field::kTxId, transactionDetail(index));
    if (!decodeHex(*tx.raw_data_hex, raw_bytes)) {
      return reject(RejectReason::BadHex, field::kRawDataHex, transactionDetail(index));
    }
    const auto digest = sha256(raw_bytes);
    std::string actual;
    actual.reserve(kHashHex);
    appendHex(actual, digest.data(), digest.size());
    if (actual != *expected) {
      return reject(RejectReason::TxidMismatch, field::kTxId, transactionDetail(index));
    }
    return std::nullopt;
  }

  std::optional<DecodeError> readTransactions(od::value value) {
    od::array list;
    DECODER_RETURN_IF_ERROR(readArray(value, field::kTransactions, list));
    std::uint64_t index = 0;
    for (auto element : list) {
      od::value tx_value;
      if (const auto error = element.get(tx_value); error != simdjson::SUCCESS) {
        return jsonError(error, field::kTransactions);
      }
      od::object object;
      DECODER_RETURN_IF_ERROR(readObject(tx_value, field::kTransactions, object));
      TransactionFields tx;
      for (auto member : object) {
        od::field entry;
        if (const auto error = std::move(member).get(entry); error != simdjson::SUCCESS) {
          return jsonError(error, field::kTransactions);
        }
        const auto key = entry.key();
        if (key == "ret") {
          DECODER_RETURN_IF_ERROR(readRet(entry.value(), tx));
        } else if (key == "raw_data") {
          DECODER_RETURN_IF_ERROR(readTxRawData(entry.value(), tx));
        } else if (options.verify_tx_ids && key == "txID") {
          std::string_view id;
          DECODER_RETURN_IF_ERROR(readString(entry.value(), field::kTxId, id));
          tx.tx_id = id;
        } else if (options.verify_tx_ids && key == "raw_data_hex") {
          std::string_view hex;
          DECODER_RETURN_IF_ERROR(readString(entry.value(), field::kRawDataHex, hex));
          tx.raw_data_hex = hex;
        }
      }
      DECODER_RETURN_IF_ERROR(account(tx, index));
      ++index;
    }
    return std::nullopt;
  }

  static DecodeResult retraction(std::optional<std::uint64_t> height, std::optional<std::string_view> id) {
    if (!height) return reject(RejectReason::MissingField, field::kHeight);
    if (!id) return reject(RejectReason::MissingField, field::kRetractedId);
    auto block_id = normalizedHash(*id);
    if (!block_id) return reject(RejectReason::BadHex, field::kRetractedId);
    if (auto problem = checkIdHeight(*block_id, *height)) return *problem;
    return BlockRetraction{*height, std::move(*block_id)};
  }

  static std::optional<DecodeError> checkIdHeight(std::string_view block_id, std::uint64_t height) {
    std::uint64_t prefix = 0;
    (void)std::from_chars(block_id.data(), block_id.data() + 16, prefix, 16);  // hex checked before
    if (prefix != height) {
      return reject(RejectReason::BlockIdHeightMismatch, {},
                    "blockID starts with " + std::string(block_id.substr(0, 16)) + ", height is " +
                        std::to_string(height));
    }
    return std::nullopt;
  }

  DecodeResult decode(std::string_view json) {
    resetTotals();
    padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
    std::copy(json.begin(), json.end(), padded.begin());
    od::document doc;
    if (const auto error = parser.iterate(padded.data(), json.size(), padded.size()).get(doc);
        error != simdjson::SUCCESS) {
      return jsonError(error, {});
    }
    od::object root;
    if (const auto error = doc.get_object().get(root); error != simdjson::SUCCESS) {
      // Valid JSON of another type is the wrong type; anything else is not JSON at all.
      if (error != simdjson::INCORRECT_TYPE) return jsonError(error, {});
      if (!root_validator) root_validator.emplace();
      simdjson::dom::element element;
      if (const auto invalid = root_validator->parse(padded.data(), json.size(), false).get(element);
          invalid != simdjson::SUCCESS) {
        return jsonError(invalid, {});
      }
      return reject(RejectReason::WrongType, field::kRoot);
    }

    bool any_member = false;
    std::optional<std::string_view> block_id;
    bool has_header = false;
    HeaderFields header;
    bool removed = false;
    std::optional<std::uint64_t> retracted_height;
    std::optional<std::string_view> retracted_id;
    for (auto member : root) {
      od::field entry;
      if (const auto error = std::move(member).get(entry); error != simdjson::SUCCESS) return jsonError(error, {});
      any_member = true;
      const auto key = entry.key();
      if (key == "blockID") {
        std::string_view id;
        if (auto problem = readString(entry.value(), field::kBlockId, id)) return *problem;
        block_id = id;
      } else if (key == "block_header") {
        has_header = true;
        if (auto problem = readHeader(entry.value(), header)) return *problem;
      } else if (key == "transactions") {
        if (auto problem = readTransactions(entry.value())) return *problem;
      } else if (key == "removed") {
        if (const auto error = entry.value().get_bool().get(removed); error != simdjson::SUCCESS) {
          return jsonError(error, field::kRemoved);
        }
      } else if (key == "height") {
        std::uint64_t height = 0;
        if (auto problem = readUnsigned(entry.value(), field::kHeight, kInt64Max, height)) return *problem;
        retracted_height = height;
      } else if (key == "block_id") {
        std::string_view id;
        if (auto problem = readString(entry.value(), field::kRetractedId, id)) return *problem;
        retracted_id = id;
      }
    }
    // The root object must be the whole document.
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
      return reject(RejectReason::InvalidJson, {}, "bytes after the block object");
    }

    if (!any_member) return reject(RejectReason::EmptyBlock);
    if (removed) return retraction(retracted_height, retracted_id);
    return summarize(json, block_id, has_header, header);
  }

  DecodeResult summarize(std::string_view json, std::optional<std::string_view> raw_block_id,
                         bool has_header, const HeaderFields& header) {
    if (!raw_block_id) return reject(RejectReason::MissingField, field::kBlockId);
    if (!has_header) return reject(RejectReason::MissingField, field::kHeader);
    if (!header.has_raw_data) return reject(RejectReason::MissingField, field::kRawData);
    if (!header.number) return reject(RejectReason::MissingField, field::kNumber);
    if (!header.parent_hash) return reject(RejectReason::MissingField, field::kParentHash);
    if (!header.timestamp) return reject(RejectReason::MissingField, field::kTimestamp);
    if (!header.witness) return reject(RejectReason::MissingField, field::kWitness);

    BlockSummary block;
    auto block_id = normalizedHash(*raw_block_id);
    if (!block_id) return reject(RejectReason::BadHex, field::kBlockId);
    auto parent_id = normalizedHash(*header.parent_hash);
    if (!parent_id) return reject(RejectReason::BadHex, field::kParentHash);
    if (auto problem = checkIdHeight(*block_id, *header.number)) return *problem;
    const auto witness = parseTronAddress(*header.witness);
    if (const auto* problem = std::get_if<AddressProblem>(&witness)) {
      return *addressProblem(*problem, field::kWitness);
    }

    block.height = *header.number;
    block.block_id = std::move(*block_id);
    block.parent_id = std::move(*parent_id);
    block.timestamp_ms = *header.timestamp;
    block.witness = std::get<TronAddress>(witness).base58();
    block.witness_hex = std::get<TronAddress>(witness).hex();
    block.version = header.version;
    block.tx_count = tx_count;
    block.tx_by_type = types.sorted();
    block.tx_failed = tx_failed;
    block.trx_transferred_sun = trx_sun.toDecimal();
    block.trc20_transfers = trc20_transfers;
    block.usdt_transfers = usdt_transfers;
    block.usdt_volume = usdt_volume.toDecimal();
    // The last decimal digit of the blockID, scanning from its end (architecture.md §3); the
    // zero-padded height prefix guarantees one.
    const auto digit = std::find_if(block.block_id.rbegin(), block.block_id.rend(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    block.last_digit = *digit - '0';
    block.is_odd = block.last_digit % 2 == 1;
    block.size_bytes = json.size();
    return block;
  }
};

#undef DECODER_RETURN_IF_ERROR

BlockDecoder::BlockDecoder(DecoderOptions options)
    : options_(options), impl_(std::make_unique<Impl>(options)) {}

BlockDecoder::~BlockDecoder() = default;

DecodeResult BlockDecoder::decode(std::string_view json) noexcept {
  try {
    return impl_->decode(json);
  } catch (const std::exception& e) {  // std::bad_alloc from a huge document
    return reject(RejectReason::InvalidJson, {}, std::string("decoder failure: ") + e.what());
  }
}

}  // namespace stages::decoder
