#include "tests/tronsim/base58.h"

#include <cstdint>
#include <vector>

#include "tests/tronsim/crypto.h"

namespace tronsim {
namespace {

constexpr char kAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int alphabetIndex(char c) {
  for (int i = 0; i < 58; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

}  // namespace

std::string base58Encode(std::string_view bytes) {
  std::size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == '\0') ++zeros;
  // The rest as big-endian 32-bit limbs, divided repeatedly by 58^5 (fits in 32 bits): five
  // base-58 digits per pass over the limbs instead of one digit per byte per digit.
  constexpr std::uint64_t kBase5 = 58ULL * 58 * 58 * 58 * 58;  // 656,356,768
  const std::size_t n = bytes.size() - zeros;
  std::vector<std::uint32_t> limbs((n + 3) / 4, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t from_end = n - 1 - i;
    limbs[limbs.size() - 1 - from_end / 4] |= static_cast<std::uint32_t>(
        static_cast<std::uint8_t>(bytes[zeros + i]) << (8 * (from_end % 4)));
  }
  std::string reversed;  // least significant digit first
  reversed.reserve(n * 137 / 100 + 6);
  std::size_t first = 0;  // first non-zero limb
  while (first < limbs.size() && limbs[first] == 0) ++first;
  while (first < limbs.size()) {
    std::uint64_t rem = 0;
    for (std::size_t i = first; i < limbs.size(); ++i) {
      const std::uint64_t cur = (rem << 32) | limbs[i];
      limbs[i] = static_cast<std::uint32_t>(cur / kBase5);
      rem = cur % kBase5;
    }
    while (first < limbs.size() && limbs[first] == 0) ++first;
    for (int k = 0; k < 5; ++k) {
      reversed.push_back(kAlphabet[rem % 58]);
      rem /= 58;
    }
  }
  while (!reversed.empty() && reversed.back() == '1') reversed.pop_back();  // leading zero digits
  std::string out(zeros, '1');
  out.append(reversed.rbegin(), reversed.rend());
  return out;
}

std::optional<std::string> base58Decode(std::string_view text) {
  std::size_t ones = 0;
  while (ones < text.size() && text[ones] == '1') ++ones;
  // log(58)/log(256) < 0.74.
  std::vector<std::uint8_t> bytes((text.size() - ones) * 74 / 100 + 1, 0);
  std::size_t used = 0;  // bytes in use, least significant first
  for (std::size_t i = ones; i < text.size(); ++i) {
    const int value = alphabetIndex(text[i]);
    if (value < 0) return std::nullopt;
    unsigned carry = static_cast<unsigned>(value);
    std::size_t j = 0;
    for (; j < used || carry != 0; ++j) {
      carry += 58u * bytes[j];
      bytes[j] = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    used = j;
  }
  std::string out(ones, '\0');
  out.reserve(ones + used);
  for (std::size_t j = used; j-- > 0;) out.push_back(static_cast<char>(bytes[j]));
  return out;
}

std::string base58CheckEncode(std::string_view payload) {
  const Hash256 first = sha256(payload);
  const Hash256 second = sha256(first.data(), first.size());
  std::string data(payload);
  data.append(reinterpret_cast<const char*>(second.data()), 4);
  return base58Encode(data);
}

std::optional<std::string> base58CheckDecode(std::string_view text) {
  auto data = base58Decode(text);
  if (!data || data->size() < 4) return std::nullopt;
  const std::string_view payload(data->data(), data->size() - 4);
  const Hash256 first = sha256(payload);
  const Hash256 second = sha256(first.data(), first.size());
  if (std::string_view(data->data() + payload.size(), 4) !=
      std::string_view(reinterpret_cast<const char*>(second.data()), 4)) {
    return std::nullopt;
  }
  data->resize(payload.size());
  return data;
}

std::string hexAddressToBase58(std::string_view hex_address) {
  const auto bytes = fromHex(hex_address);
  return base58CheckEncode(bytes ? std::string_view(*bytes) : std::string_view());
}

std::optional<std::string> base58ToHexAddress(std::string_view base58_address) {
  const auto payload = base58CheckDecode(base58_address);
  if (!payload || payload->size() != 21 || static_cast<std::uint8_t>((*payload)[0]) != 0x41) {
    return std::nullopt;
  }
  return toHex(*payload);
}

}  // namespace tronsim
