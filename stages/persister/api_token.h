#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"

namespace stages::persister {

/** The tokens the API accepts, and the file they came from when none was configured. */
struct ApiTokens {
  std::vector<std::string> tokens;
  std::string file;        // the token file; empty when the tokens came from configuration
  bool generated = false;  // the file was created by this call
};

/**
 * `configured` when not empty; otherwise the token in `<data_dir>/api_token`, created on first
 * start with 32 random bytes (hex) and mode 0600. Errors: Io (file unreadable or not creatable),
 * InvalidConfig (the file is empty or readable by others: a leaked token is no token).
 */
[[nodiscard]] pipeline::Result<ApiTokens> resolveApiTokens(std::vector<std::string> configured,
                                                           const std::string& data_dir);

/**
 * Checks `Authorization: Bearer <token>` in constant time: the presented token and every accepted
 * one are compared as SHA-256 digests with CRYPTO_memcmp, all of them, so neither the length nor
 * the content of a token shows in the timing. Immutable; any thread.
 */
class TokenAuthenticator {
 public:
  explicit TokenAuthenticator(const std::vector<std::string>& tokens);

  enum class Verdict { Accepted, Missing, Wrong };
  /** `authorization` is the header's value, if any. */
  Verdict check(const std::optional<std::string_view>& authorization) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  std::vector<Digest> accepted_;
};

}  // namespace stages::persister
