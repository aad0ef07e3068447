#include "stages/decoder/tron_address.h"

#include <openssl/sha.h>

#include <algorithm>

#include "stages/decoder/bytes.h"

namespace stages::decoder {
namespace {

constexpr std::string_view kBase58Alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::size_t kBase58Length = 34;  // 25 bytes starting with 0x41 always encode to 34
constexpr std::size_t kChecksummedBytes = 25;

// Reverse lookup of the alphabet: -1 for characters outside it.
constexpr std::array<std::int8_t, 128> base58Values() {
  std::array<std::int8_t, 128> values{};
  values.fill(-1);
  for (std::size_t i = 0; i < kBase58Alphabet.size(); ++i) {
    values[static_cast<std::size_t>(kBase58Alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return values;
}
constexpr auto kBase58Values = base58Values();

std::array<std::uint8_t, 4> checksum(const std::uint8_t* data, std::size_t size) {
  std::array<std::uint8_t, 32> first{};
  std::array<std::uint8_t, 32> second{};
  SHA256(data, size, first.data());
  SHA256(first.data(), first.size(), second.data());
  return {second[0], second[1], second[2], second[3]};
}

}  // namespace

std::string TronAddress::hex() const {
  std::string out;
  out.reserve(bytes.size() * 2);
  appendHex(out, bytes.data(), bytes.size());
  return out;
}

std::string TronAddress::base58() const {
  std::array<std::uint8_t, kChecksummedBytes> payload{};
  std::copy(bytes.begin(), bytes.end(), payload.begin());
  const auto sum = checksum(bytes.data(), bytes.size());
  std::copy(sum.begin(), sum.end(), payload.begin() + bytes.size());
  // Big-endian base conversion 256 → 58; the leading byte 0x41 means there is no leading '1'.
  std::array<std::uint8_t, 40> digits{};
  std::size_t length = 0;
  for (std::uint8_t byte : payload) {
    unsigned carry = byte;
    for (std::size_t i = 0; i < length; ++i) {
      carry += static_cast<unsigned>(digits[i]) << 8;
      digits[i] = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry != 0) {
      digits[length++] = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
  }
  std::string out;
  out.reserve(length);
  for (std::size_t i = length; i-- > 0;) out.push_back(kBase58Alphabet[digits[i]]);
  return out;
}

std::variant<TronAddress, AddressProblem> parseTronAddress(std::string_view text) noexcept {
  TronAddress address;
  if (text.size() == 2 * address.bytes.size()) {
    for (std::size_t i = 0; i < address.bytes.size(); ++i) {
      const int high = hexDigitValue(text[2 * i]);
      const int low = hexDigitValue(text[2 * i + 1]);
      if (high < 0 || low < 0) return AddressProblem::Malformed;
      address.bytes[i] = static_cast<std::uint8_t>((high << 4) | low);
    }
    if (address.bytes[0] != TronAddress::kPrefix) return AddressProblem::Malformed;
    return address;
  }
  if (text.size() != kBase58Length) return AddressProblem::Malformed;
  // Base conversion 58 → 256 into a fixed 25-byte big-endian buffer; overflow means too large.
  std::array<std::uint8_t, kChecksummedBytes> payload{};
  for (char c : text) {
    const auto index = static_cast<unsigned char>(c);
    if (index >= kBase58Values.size() || kBase58Values[index] < 0) return AddressProblem::Malformed;
    unsigned carry = static_cast<unsigned>(kBase58Values[index]);
    for (std::size_t i = payload.size(); i-- > 0;) {
      carry += static_cast<unsigned>(payload[i]) * 58;
      payload[i] = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    if (carry != 0) return AddressProblem::Malformed;
  }
  if (payload[0] != TronAddress::kPrefix) return AddressProblem::Malformed;
  const auto expected = checksum(payload.data(), address.bytes.size());
  if (!std::equal(expected.begin(), expected.end(), payload.begin() + address.bytes.size())) {
    return AddressProblem::BadChecksum;
  }
  std::copy_n(payload.begin(), address.bytes.size(), address.bytes.begin());
  return address;
}

}  // namespace stages::decoder
