#pragma once

// AWS Signature Version 4 (header-based, AWS4-HMAC-SHA256) as pure functions: no I/O, no clock,
// no global state, so every step can be checked against the published examples
// (tests/stages/persister/backup/sigv4_test.cc). S3 rules apply: paths are neither normalised nor
// encoded twice. OpenSSL 3 EVP/HMAC underneath.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stages::persister::backup::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
/** Hex SHA-256 of no bytes: the payload hash of a request without a body. */
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** name, value pairs in the order given; names compare case-insensitively. */
using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryList = std::vector<std::pair<std::string, std::string>>;

/** Who signs. The secret is used only as HMAC key material and never appears in any output. */
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  /** Temporary credentials only (STS); sent and signed as x-amz-security-token. */
  std::string session_token;
};

/** The parts of one request that are signed. */
struct Request {
  std::string method;  // "GET", "PUT", ...
  /** The request path exactly as sent, already URI-encoded ("/bucket/a%20b"); see encodePath(). */
  std::string canonical_uri;
  /** Decoded query parameters in any order; a parameter without value has "" ("?lifecycle"). */
  QueryList query;
  /** Every header to sign, "host" included; values as sent. */
  HeaderList headers;
  /** Lowercase hex SHA-256 of the body (kEmptyPayloadSha256 for none). */
  std::string payload_sha256;
};

/** Lowercase hex of `bytes`. */
std::string hex(std::string_view bytes);
/** Lowercase hex SHA-256 of `data`. */
std::string sha256Hex(std::string_view data);
/** Raw (32-byte) HMAC-SHA256 of `data` under `key`. */
std::string hmacSha256(std::string_view key, std::string_view data);

/**
 * SigV4's UriEncode: every byte except A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase hex); '/' is
 * kept unless `encode_slash`. Multi-byte UTF-8 is encoded byte by byte.
 */
std::string uriEncode(std::string_view text, bool encode_slash);
/** An S3 object path: every segment encoded, '/' kept ("a b/c$" -> "a%20b/c%24"). */
std::string encodePath(std::string_view path);

/** "name=value&..." with names and values encoded, sorted by name, then value. */
std::string canonicalQueryString(const QueryList& query);
/** "host;range;x-amz-date": lowercase names, sorted, each once. */
std::string signedHeaderNames(const HeaderList& headers);
/**
 * One "name:value\n" line per lowercase name, sorted; values trimmed with inner runs of spaces
 * collapsed; repeated names joined with ',' in the order given.
 */
std::string canonicalHeaders(const HeaderList& headers);
/** method \n uri \n query \n headers \n signed names \n payload hash. */
std::string canonicalRequest(const Request& request);

/** "20130524T000000Z" (UTC, whole seconds). */
std::string amzDate(std::chrono::system_clock::time_point time);
/** "20130524/us-east-1/s3/aws4_request"; `date` is YYYYMMDD. */
std::string credentialScope(std::string_view date, std::string_view region,
                            std::string_view service);
/** kAlgorithm \n amz_date \n scope \n hex(sha256(canonical_request)). */
std::string stringToSign(std::string_view amz_date, std::string_view credential_scope,
                         std::string_view canonical_request);
/** The raw signing key: HMAC chain over "AWS4"+secret, date, region, service, "aws4_request". */
std::string signingKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service);
/** Lowercase hex signature of `string_to_sign`; `date` is YYYYMMDD. */
std::string signature(std::string_view secret, std::string_view date, std::string_view region,
                      std::string_view service, std::string_view string_to_sign);

/**
 * Signs `request` at `time`: adds x-amz-date, x-amz-content-sha256 (= payload_sha256) and, with a
 * session token, x-amz-security-token to its headers (replacing any given), signs every header,
 * and returns the headers to send: the request's, those added, then Authorization. The
 * Authorization value holds the access key id and the signature only; never log it anyway.
 */
HeaderList sign(Request request, const Credentials& credentials, std::string_view region,
                std::string_view service, std::chrono::system_clock::time_point time);

}  // namespace stages::persister::backup::sigv4
