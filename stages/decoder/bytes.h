#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// Hex and hashing helpers shared by the decoder's parts. Pure; any thread.
namespace stages::decoder {

/** SHA-256 of `bytes` (OpenSSL). */
std::array<std::uint8_t, 32> sha256(std::string_view bytes) noexcept;

/** Lower-case hex of `size` bytes appended to `out`. */
void appendHex(std::string& out, const std::uint8_t* data, std::size_t size);

/** Value of a hex digit (either case), or -1. */
constexpr int hexDigitValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/**
 * Decodes an even-length hex string (either case) into `out` (replacing its contents). False on
 * an odd length or a non-hex character.
 */
bool decodeHex(std::string_view hex, std::string& out);

}  // namespace stages::decoder
