#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace pipeline {

/**
 * An exact sum of unsigned amounts: int64 TRX amounts in sun, uint256 TRC-20 amount words, and
 * decimal strings that already hold such sums (block.v1 `trx_transferred_sun`, `usdt_volume`).
 * Sums do not fit in 64 bits (two int64 amounts near 2^63 already overflow, one uint256 word may
 * be 2^256 − 1), so the sum is kept in 320 bits: 2^64 addends of 256 bits each cannot overflow it.
 *
 * Plain value type (copyable, comparable); no allocation until toDecimal(). Any thread, no
 * sharing.
 */
class AmountSum {
 public:
  void add(std::uint64_t amount) noexcept;
  /**
   * Adds a 32-byte big-endian word written as exactly 64 hex digits (either case), as ABI
   * calldata carries a uint256. Returns false and leaves the sum unchanged if `hex_word` is not
   * 64 hex digits.
   */
  [[nodiscard]] bool addHexWord(std::string_view hex_word) noexcept;
  /**
   * Adds a non-negative integer written in decimal without sign or leading zeros ("0" or
   * [1-9][0-9]*). Returns false and leaves the sum unchanged if the text is not such a number or
   * the result would not fit in 320 bits.
   */
  [[nodiscard]] bool addDecimal(std::string_view decimal) noexcept;
  /** Adds another sum. Returns false and leaves this sum unchanged if the result would overflow. */
  [[nodiscard]] bool add(const AmountSum& other) noexcept;
  bool isZero() const noexcept;
  /** The sum in decimal, without leading zeros ("0" for zero). */
  std::string toDecimal() const;

  friend bool operator==(const AmountSum&, const AmountSum&) = default;

 private:
  static constexpr std::size_t kLimbs = 10;  // 32-bit limbs, least significant first
  using Limbs = std::array<std::uint32_t, kLimbs>;
  // Adds `addend` limb by limb; false (and no change) when a carry leaves the top limb.
  bool addLimbs(const Limbs& addend) noexcept;
  Limbs limbs_{};
};

}  // namespace pipeline
