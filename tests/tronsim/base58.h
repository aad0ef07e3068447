#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tronsim {

/** Base58 with the Bitcoin alphabet; leading zero bytes become leading '1's. */
std::string base58Encode(std::string_view bytes);
/** nullopt on a character outside the alphabet. */
std::optional<std::string> base58Decode(std::string_view text);

/** Base58(payload ‖ SHA256(SHA256(payload))[0:4]), as java-tron's encode58Check. */
std::string base58CheckEncode(std::string_view payload);
/** The payload, or nullopt if the text is not base58 or the 4-byte checksum does not match. */
std::optional<std::string> base58CheckDecode(std::string_view text);

/** "41…" (42 hex chars) → "T…" (34 chars). Precondition: valid hex. */
std::string hexAddressToBase58(std::string_view hex_address);
/** "T…" → "41…" hex; nullopt unless a valid 21-byte base58check address starting with 0x41. */
std::optional<std::string> base58ToHexAddress(std::string_view base58_address);

}  // namespace tronsim
