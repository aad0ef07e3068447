#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"

namespace stages::persister::backup {

/** Where backups go: one bucket (and key prefix) of an S3-compatible store. */
struct S3Config {
  /** "http://127.0.0.1:9000" or "https://s3.eu-west-1.amazonaws.com": scheme and authority only. */
  std::string endpoint;
  /** Signing region ("us-east-1" for most S3-compatible servers). */
  std::string region;
  std::string bucket;
  /** Prepended verbatim to every key (end it with '/' for a folder); keys in results omit it. */
  std::string prefix;
  std::string access_key_id;
  /** Never logged, never part of an error message. */
  std::string secret_access_key;
  /** Temporary credentials only; empty otherwise. */
  std::string session_token;
  /** Path-style ("endpoint/bucket/key") rather than virtual-hosted ("bucket.endpoint/key"). */
  bool path_style = true;
  /** Connect deadline, and the longest a transfer may make no progress; HEAD, DELETE and each
   * list page must also complete within it. Uploads and downloads of any size may take longer. */
  std::chrono::milliseconds timeout{60000};
};

/** One object as S3 describes it. */
struct ObjectInfo {
  /** Relative to S3Config::prefix. */
  std::string key;
  std::uint64_t size = 0;
  /** Without the surrounding quotes (MD5 hex for a single-part upload). */
  std::string etag;
  /** The epoch when the server does not say (putFile). */
  std::chrono::system_clock::time_point last_modified{};
};

/**
 * A blocking S3 client (PutObject, HeadObject, GetObject, ListObjectsV2, DeleteObject) signing
 * every request with AWS Signature V4 over libcurl's easy interface. Meant for a worker thread,
 * never for a libuv loop thread: each call blocks until the transfer ends.
 *
 * Lifecycle: construct -> calls -> destroy. Not thread-safe: one thread at a time (the curl
 * handle, and with it the connection, is reused across calls); use one client per thread.
 *
 * No call retries. The caller retries with backoff, by error type:
 *  - Unavailable: 503, SlowDown, 429, 409 (throttled or busy) -> retry later;
 *  - Timeout: connect deadline, a stalled transfer, 408/RequestTimeout -> retry;
 *  - Http: transport failures (refused, reset, TLS, truncated body) and other 5xx -> retry;
 *  - InvalidConfig: a bad S3Config (every call returns it), 403 (SignatureDoesNotMatch,
 *    InvalidAccessKeyId, AccessDenied, RequestTimeTooSkewed, ...), NoSuchBucket -> do not retry;
 *  - InvalidArgument: NoSuchKey (head, getToFile), other 4xx, a file too large for one PUT;
 *  - Io: the local file (cannot read, write or rename; or it changed during an upload);
 *  - InvalidPayload: a response that cannot be parsed.
 * Messages name the method, bucket, key, HTTP status, S3 error Code and request id; never the
 * secret, the session token or the Authorization header.
 *
 * Keys are URI-encoded per SigV4 (every byte but A-Z a-z 0-9 - . _ ~ and '/'), never normalised.
 */
class S3Client {
 public:
  /** A single PUT accepts at most 5 GiB (no multipart upload here). */
  static constexpr std::uint64_t kMaxPutBytes = 5ull << 30;

  explicit S3Client(S3Config config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  /** InvalidConfig naming the first bad field of `config` (what every call would return). */
  [[nodiscard]] static pipeline::Status validate(const S3Config& config);

  /**
   * Uploads `local_path` as `key` in one PUT: hashes the file (x-amz-content-sha256), then
   * streams it from disk. The file must not change meanwhile (the server then refuses it: Io).
   * Returns the key, the size sent and the ETag.
   */
  [[nodiscard]] pipeline::Result<ObjectInfo> putFile(std::string_view key,
                                                     const std::string& local_path);

  /** Size, ETag and Last-Modified of `key`. NoSuchKey: InvalidArgument. */
  [[nodiscard]] pipeline::Result<ObjectInfo> head(std::string_view key);

  /**
   * Downloads `key` to `local_path`: into a temporary file next to it, fsync'ed, then renamed
   * over it, so `local_path` is either complete or untouched. NoSuchKey: InvalidArgument.
   */
  [[nodiscard]] pipeline::Status getToFile(std::string_view key, const std::string& local_path);

  /** Every object whose key starts with `prefix`, in key order, page by page (ListObjectsV2 with
   * continuation tokens, `page_size` keys per request, 1..1000). */
  [[nodiscard]] pipeline::Result<std::vector<ObjectInfo>> list(std::string_view prefix,
                                                               std::uint32_t page_size = 1000);

  /** Deletes `key`; deleting a missing key succeeds (S3 semantics). */
  [[nodiscard]] pipeline::Status remove(std::string_view key);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stages::persister::backup
