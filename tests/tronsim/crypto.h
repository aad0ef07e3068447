#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tronsim {

using Hash256 = std::array<std::uint8_t, 32>;

/** SHA-256 of `size` bytes (OpenSSL EVP, one reusable context per thread). */
Hash256 sha256(const void* data, std::size_t size);
inline Hash256 sha256(std::string_view bytes) { return sha256(bytes.data(), bytes.size()); }

/** Appends the lowercase hex of `size` bytes to `out`. */
void appendHex(std::string& out, const void* data, std::size_t size);
/** `"<hex>"`: a JSON string of hex digits, as java-tron writes hashes and raw bytes. */
void appendQuotedHex(std::string& out, const void* data, std::size_t size);
/** A decimal integer, for hand-written JSON on the hot rendering path. */
void appendInt(std::string& out, std::int64_t value);
std::string toHex(const void* data, std::size_t size);
inline std::string toHex(std::string_view bytes) { return toHex(bytes.data(), bytes.size()); }
/** Decodes an even-length hex string (either case); nullopt on any other character. */
std::optional<std::string> fromHex(std::string_view hex);

}  // namespace tronsim
