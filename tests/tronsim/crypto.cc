#include "tests/tronsim/crypto.h"

#include <charconv>

#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace tronsim {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Two hex characters per byte value, so hex encoding is one 2-byte copy per byte.
struct HexTable {
  char pairs[256][2];
  constexpr HexTable() : pairs{} {
    for (int i = 0; i < 256; ++i) {
      pairs[i][0] = kHexDigits[i >> 4];
      pairs[i][1] = kHexDigits[i & 15];
    }
  }
};
constexpr HexTable kHexTable;

const EVP_MD* sha256Md() {
  // Fetched once: EVP_sha256() would look the implementation up again on every init.
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) std::abort();  // a broken OpenSSL installation: nothing can work
  return md;
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Hash256 sha256(const void* data, std::size_t size) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  Hash256 out{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data, size) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
    std::abort();  // only fails on allocation failure
  }
  return out;
}

void appendHex(std::string& out, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  const std::size_t start = out.size();
  out.resize(start + 2 * size);
  char* dst = out.data() + start;
  for (std::size_t i = 0; i < size; ++i) {
    dst[2 * i] = kHexTable.pairs[bytes[i]][0];
    dst[2 * i + 1] = kHexTable.pairs[bytes[i]][1];
  }
}

std::string toHex(const void* data, std::size_t size) {
  std::string out;
  appendHex(out, data, size);
  return out;
}

std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hexValue(hex[2 * i]);
    const int lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

void appendQuotedHex(std::string& out, const void* data, std::size_t size) {
  out.push_back('"');
  appendHex(out, data, size);
  out.push_back('"');
}

void appendInt(std::string& out, std::int64_t value) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}

}  // namespace tronsim
