#include "pipeline/amount_sum.h"

#include <algorithm>

namespace pipeline {
namespace {

int hexDigitValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void AmountSum::add(std::uint64_t amount) noexcept {
  Limbs addend{};
  addend[0] = static_cast<std::uint32_t>(amount);
  addend[1] = static_cast<std::uint32_t>(amount >> 32);
  // 2^64 additions of 64-bit amounts stay far below 2^320; an overflow here is unreachable.
  (void)addLimbs(addend);
}

bool AmountSum::addHexWord(std::string_view hex_word) noexcept {
  if (hex_word.size() != 64) return false;
  Limbs word{};
  // Eight 32-bit limbs, most significant first in the text.
  for (std::size_t limb = 0; limb < 8; ++limb) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      const int digit = hexDigitValue(hex_word[limb * 8 + i]);
      if (digit < 0) return false;
      value = (value << 4) | static_cast<std::uint32_t>(digit);
    }
    word[7 - limb] = value;
  }
  return addLimbs(word);
}

bool AmountSum::addDecimal(std::string_view decimal) noexcept {
  if (decimal.empty() || (decimal.size() > 1 && decimal.front() == '0')) return false;
  if (!std::all_of(decimal.begin(), decimal.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  // value = value * 10^k + chunk, nine digits at a time (10^9 < 2^32 keeps each step in 64 bits).
  Limbs value{};
  std::size_t pos = 0;
  while (pos < decimal.size()) {
    const std::size_t take = std::min<std::size_t>(9, decimal.size() - pos);
    std::uint32_t chunk = 0;
    std::uint32_t scale = 1;
    for (std::size_t i = 0; i < take; ++i) {
      chunk = chunk * 10 + static_cast<std::uint32_t>(decimal[pos + i] - '0');
      scale *= 10;
    }
    pos += take;
    std::uint64_t carry = chunk;
    for (auto& limb : value) {
      const std::uint64_t product = std::uint64_t{limb} * scale + carry;
      limb = static_cast<std::uint32_t>(product);
      carry = product >> 32;
    }
    if (carry != 0) return false;
  }
  return addLimbs(value);
}

bool AmountSum::add(const AmountSum& other) noexcept { return addLimbs(other.limbs_); }

bool AmountSum::addLimbs(const Limbs& addend) noexcept {
  Limbs result{};
  std::uint64_t carry = 0;
  for (std::size_t i = 0; i < kLimbs; ++i) {
    const std::uint64_t sum = std::uint64_t{limbs_[i]} + addend[i] + carry;
    result[i] = static_cast<std::uint32_t>(sum);
    carry = sum >> 32;
  }
  if (carry != 0) return false;
  limbs_ = result;
  return true;
}

bool AmountSum::isZero() const noexcept {
  return std::all_of(limbs_.begin(), limbs_.end(), [](std::uint32_t limb) { return limb == 0; });
}

std::string AmountSum::toDecimal() const {
  // Repeated division by 10^9 yields nine decimal digits per step, least significant first.
  constexpr std::uint32_t kChunk = 1'000'000'000;
  if (isZero()) return "0";
  auto quotient = limbs_;
  std::size_t top = kLimbs;  // limbs at and above `top` are zero
  while (quotient[top - 1] == 0) --top;
  std::string digits;
  while (top > 0) {
    std::uint64_t remainder = 0;
    for (std::size_t i = top; i-- > 0;) {
      const std::uint64_t current = (remainder << 32) | quotient[i];
      quotient[i] = static_cast<std::uint32_t>(current / kChunk);
      remainder = current % kChunk;
    }
    while (top > 0 && quotient[top - 1] == 0) --top;
    for (int i = 0; i < 9; ++i) {
      digits.push_back(static_cast<char>('0' + remainder % 10));
      remainder /= 10;
    }
  }
  while (digits.back() == '0') digits.pop_back();  // the value is not zero: a digit is not '0'
  std::reverse(digits.begin(), digits.end());
  return digits;
}

}  // namespace pipeline
