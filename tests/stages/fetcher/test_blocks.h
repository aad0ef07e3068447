#pragma once

// Test helpers for the fetcher: fixtures and a synthetic chain with forks.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "stages/fetcher/block.h"

namespace stages::fetcher::testing {

inline std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(POINTTRON_SOURCE_DIR) + "/tests/fixtures/tron-blocks/" + name,
                   std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/** 64 hex: 16 of the height, then 48 derived from (branch, height). */
inline std::string syntheticId(std::int64_t height, int branch) {
  char out[65];
  std::uint64_t h = static_cast<std::uint64_t>(height) * 0x9E3779B97F4A7C15ull ^
                    (static_cast<std::uint64_t>(branch) + 1) * 0xC2B2AE3D27D4EB4Full;
  std::snprintf(out, sizeof out, "%016llx%016llx%016llx%016llx",
                static_cast<unsigned long long>(height), static_cast<unsigned long long>(h),
                static_cast<unsigned long long>(h * 31 + 7),
                static_cast<unsigned long long>(h ^ 0xABCDEFull));
  return out;
}

/**
 * A chain whose heights >= a fork height can be moved to a new branch, like tronsim's Chain.
 * block(h) is on the current branch and links to block(h - 1).
 */
class SyntheticChain {
 public:
  explicit SyntheticChain(std::size_t padding = 0) : padding_(padding) {}

  void fork(std::int64_t from_height) { forks_[from_height] = ++branches_; }

  int branchOf(std::int64_t height) const {
    auto it = forks_.upper_bound(height);
    if (it == forks_.begin()) return 0;
    return std::prev(it)->second;
  }
  std::string id(std::int64_t height) const { return syntheticId(height, branchOf(height)); }

  ParsedBlock block(std::int64_t height) const {
    ParsedBlock b;
    b.height = height;
    b.block_id = id(height);
    b.parent_id = height > 0 ? id(height - 1) : std::string(64, '0');
    b.timestamp_ms = 1'700'000'000'000 + height * 3000;
    b.raw_json = R"({"blockID":")" + b.block_id + R"(","pad":")" + std::string(padding_, 'x') +
                 R"("})";
    return b;
  }

 private:
  std::size_t padding_;
  std::map<std::int64_t, int> forks_;
  int branches_ = 0;
};

}  // namespace stages::fetcher::testing
