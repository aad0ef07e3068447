#include "stages/persister/api_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "pipeline/http/server.h"

namespace stages::persister {
namespace {

using pipeline::Error;
using pipeline::ErrorType;

constexpr std::size_t kTokenBytes = 32;

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

pipeline::Result<std::string> generateToken(const std::string& path) {
  unsigned char bytes[kTokenBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Error{ErrorType::Internal, "generating an API token: RAND_bytes failed"};
  }
  std::string token;
  for (unsigned char byte : bytes) token += fmt::format("{:02x}", byte);
  // O_EXCL: never overwrite a token someone already holds; 0600 from the first byte on disk.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Error{ErrorType::Io, fmt::format("creating {}: {}", path, std::strerror(errno))};
  }
  const std::string content = token + "\n";
  const bool written = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
                       ::fsync(fd) == 0;
  const int saved_errno = errno;
  (void)::close(fd);  // the descriptor was only written; a close error after fsync loses nothing
  if (!written) {
    (void)std::remove(path.c_str());  // a partial token file would be read back as the token
    return Error{ErrorType::Io, fmt::format("writing {}: {}", path, std::strerror(saved_errno))};
  }
  return token;
}

}  // namespace

pipeline::Result<ApiTokens> resolveApiTokens(std::vector<std::string> configured,
                                             const std::string& data_dir) {
  if (!configured.empty()) return ApiTokens{.tokens = std::move(configured)};
  const std::string path = (std::filesystem::path(data_dir) / "api_token").string();
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) {
      return Error{ErrorType::Io, fmt::format("reading {}: {}", path, std::strerror(errno))};
    }
    auto token = generateToken(path);
    if (!token) return token.error();
    return ApiTokens{.tokens = {std::move(*token)}, .file = path, .generated = true};
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("{} is accessible by group or others; chmod 600 it or set "
                             "persister.api_tokens", path)};
  }
  std::ifstream file(path);
  std::stringstream content;
  content << file.rdbuf();
  if (!file) return Error{ErrorType::Io, fmt::format("reading {} failed", path)};
  std::string token = trim(content.str());
  if (token.empty()) return Error{ErrorType::InvalidConfig, fmt::format("{} is empty", path)};
  return ApiTokens{.tokens = {std::move(token)}, .file = path};
}

namespace {

// SHA256() looks its implementation up on every call (OpenSSL 3), a measurable share of an API
// request; the algorithm is fetched once instead.
void sha256(std::string_view text, unsigned char* digest) {
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (kSha256 == nullptr ||
      EVP_Digest(text.data(), text.size(), digest, nullptr, kSha256, nullptr) != 1) {
    std::abort();  // OpenSSL without SHA-256 cannot check a token at all
  }
}

}  // namespace

TokenAuthenticator::TokenAuthenticator(const std::vector<std::string>& tokens) {
  for (const auto& token : tokens) {
    Digest digest{};
    sha256(token, digest.data());
    accepted_.push_back(digest);
  }
}

TokenAuthenticator::Verdict TokenAuthenticator::check(
    const std::optional<std::string_view>& authorization) const {
  if (!authorization) return Verdict::Missing;
  constexpr std::string_view kScheme = "Bearer ";
  std::string_view value = *authorization;
  if (value.size() <= kScheme.size() ||
      !pipeline::http::equalsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return Verdict::Missing;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  Digest presented{};
  sha256(value, presented.data());
  int matches = 0;
  for (const Digest& digest : accepted_) {
    matches |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0 ? 1 : 0;
  }
  return matches != 0 ? Verdict::Accepted : Verdict::Wrong;
}

}  // namespace stages::persister
