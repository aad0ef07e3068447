#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace stages::decoder {

/**
 * A TRON account or contract address: the prefix byte 0x41 and 20 bytes (tron-api.md §5). Nodes
 * write it as 42 hex characters ("41…") by default and as a base58check T-address (34 characters)
 * with visible=true; both parse to the same bytes.
 */
struct TronAddress {
  static constexpr std::uint8_t kPrefix = 0x41;
  std::array<std::uint8_t, 21> bytes{};

  /** "41…", 42 lower-case hex characters. */
  std::string hex() const;
  /** Base58(bytes ‖ SHA256(SHA256(bytes))[0:4]): "T…", 34 characters. */
  std::string base58() const;

  friend bool operator==(const TronAddress&, const TronAddress&) = default;
};

/** Why a text is not an address: not the right shape, or a base58 checksum that does not match. */
enum class AddressProblem { Malformed, BadChecksum };

/**
 * Parses either form. Hex: 42 hex digits (either case) starting with 41. Base58: 34 characters of
 * the Bitcoin alphabet decoding to 25 bytes whose last 4 are the double-SHA-256 checksum of the
 * first 21, which start with 0x41. Pure; any thread.
 */
std::variant<TronAddress, AddressProblem> parseTronAddress(std::string_view text) noexcept;

}  // namespace stages::decoder
