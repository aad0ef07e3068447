#include "stages/persister/backup/s3_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "stages/persister/backup/sigv4.h"

namespace stages::persister::backup {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;

namespace {

// List pages and error documents are small; anything this large is not an S3 answer.
constexpr std::size_t kMaxBodyBytes = 16u << 20;
constexpr std::size_t kMaxDetailChars = 200;
constexpr std::size_t kIoChunk = 1u << 20;

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
struct DigestDeleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// Closes on destruction; the fd of a file we only read or one whose errors were checked already.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // For a file just written: close(2) can report a late write error.
  int closeChecked() noexcept {
    const int fd = std::exchange(fd_, -1);
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_;
};

// curl_global_init is not thread-safe on every build; run it once per process, never undo it.
CURLcode globalInit() noexcept {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

std::string errnoText(int error) { return std::strerror(error); }

char lowerAscii(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lowerAscii(x) == lowerAscii(y);
         });
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

template <typename T>
std::optional<T> parseNumber(std::string_view text) {
  T value{};
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::string stripQuotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

// One line, bounded: server text in our messages must not forge log lines or flood them.
std::string sanitize(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxDetailChars)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  }
  if (text.size() > kMaxDetailChars) out += "...";
  return out;
}

void appendUtf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// XML character data to text: the five predefined entities and numeric references. Anything
// else is kept literally (S3 sends no other entity).
std::string decodeEntities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto amp = text.find('&');
    out += text.substr(0, amp);
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp);
    const auto semi = text.find(';');
    const std::string_view entity =
        semi == std::string_view::npos ? std::string_view{} : text.substr(1, semi - 1);
    std::optional<std::uint32_t> code;
    if (entity == "amp") code = '&';
    if (entity == "lt") code = '<';
    if (entity == "gt") code = '>';
    if (entity == "quot") code = '"';
    if (entity == "apos") code = '\'';
    if (entity.size() > 1 && entity[0] == '#') {
      std::uint32_t value = 0;
      const bool is_hex = entity[1] == 'x' || entity[1] == 'X';
      const std::string_view digits = entity.substr(is_hex ? 2 : 1);
      auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), value, is_hex ? 16 : 10);
      if (!digits.empty() && ec == std::errc() && ptr == digits.data() + digits.size() &&
          value <= 0x10FFFF) {
        code = value;
      }
    }
    if (!code) {
      out.push_back('&');
      text.remove_prefix(1);
      continue;
    }
    appendUtf8(out, *code);
    text.remove_prefix(semi + 1);
  }
  return out;
}

// The raw content of the first <tag>...</tag> in `xml` (tags without attributes, as S3 writes
// them inside its documents).
std::optional<std::string_view> element(std::string_view xml, std::string_view tag) {
  const std::string open = fmt::format("<{}>", tag);
  const std::string close = fmt::format("</{}>", tag);
  const auto begin = xml.find(open);
  if (begin == std::string_view::npos) return std::nullopt;
  const auto content = begin + open.size();
  const auto end = xml.find(close, content);
  if (end == std::string_view::npos) return std::nullopt;
  return xml.substr(content, end - content);
}

std::string elementText(std::string_view xml, std::string_view tag) {
  const auto raw = element(xml, tag);
  return raw ? decodeEntities(*raw) : std::string();
}

using TimePoint = std::chrono::system_clock::time_point;

std::optional<TimePoint> makeTime(int year, unsigned month, unsigned day, int hour, int minute,
                                  int second) {
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{year}, std::chrono::month{month},
                            std::chrono::day{day}};
  if (!date.ok() || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 60) {
    return std::nullopt;
  }
  return sys_days{date} + hours{hour} + minutes{minute} + seconds{second};
}

// "2009-10-12T17:50:30.000Z" (ListObjectsV2 LastModified).
std::optional<TimePoint> parseIso8601(std::string_view text) {
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z') {
    return std::nullopt;
  }
  const auto year = parseNumber<int>(text.substr(0, 4));
  const auto month = parseNumber<unsigned>(text.substr(5, 2));
  const auto day = parseNumber<unsigned>(text.substr(8, 2));
  const auto hour = parseNumber<int>(text.substr(11, 2));
  const auto minute = parseNumber<int>(text.substr(14, 2));
  const auto second = parseNumber<int>(text.substr(17, 2));
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  return makeTime(*year, *month, *day, *hour, *minute, *second);
}

// "Wed, 12 Oct 2009 17:50:00 GMT" (the IMF-fixdate of Last-Modified).
std::optional<TimePoint> parseHttpDate(std::string_view text) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
  const auto day = parseNumber<unsigned>(text.substr(5, 2));
  const auto month_name = text.substr(8, 3);
  const auto year = parseNumber<int>(text.substr(12, 4));
  const auto hour = parseNumber<int>(text.substr(17, 2));
  const auto minute = parseNumber<int>(text.substr(20, 2));
  const auto second = parseNumber<int>(text.substr(23, 2));
  const auto month = std::find(kMonths.begin(), kMonths.end(), month_name);
  if (!day || !year || !hour || !minute || !second || month == kMonths.end()) return std::nullopt;
  return makeTime(*year, static_cast<unsigned>(month - kMonths.begin() + 1), *day, *hour, *minute,
                  *second);
}

struct Endpoint {
  std::string scheme;     // "http" or "https"
  std::string authority;  // "host[:port]", also the Host header
};

std::optional<Endpoint> parseEndpoint(std::string_view url) {
  Endpoint endpoint;
  for (std::string_view scheme : {"http", "https"}) {
    const std::string head = fmt::format("{}://", scheme);
    if (url.substr(0, head.size()) == head) {
      endpoint.scheme = std::string(scheme);
      url.remove_prefix(head.size());
    }
  }
  if (endpoint.scheme.empty()) return std::nullopt;
  if (!url.empty() && url.back() == '/') url.remove_suffix(1);
  if (url.empty() || url.find_first_of("/?#@ \t\r\n") != std::string_view::npos) {
    return std::nullopt;
  }
  endpoint.authority = std::string(url);
  return endpoint;
}

bool visibleAscii(std::string_view text) noexcept {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::optional<std::string> configProblem(const S3Config& config) {
  if (!parseEndpoint(config.endpoint)) {
    return "endpoint: must be http://host[:port] or https://host[:port], without path, query or "
           "user info";
  }
  if (config.region.empty() || !std::all_of(config.region.begin(), config.region.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      })) {
    return "region: must be non-empty, of a-z, 0-9 and '-'";
  }
  if (config.bucket.size() < 3 || config.bucket.size() > 255 ||
      !std::all_of(config.bucket.begin(), config.bucket.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
      })) {
    return "bucket: must be 3-255 characters of a-z, A-Z, 0-9, '-', '.' and '_'";
  }
  if (config.access_key_id.empty() || !visibleAscii(config.access_key_id) ||
      config.access_key_id.find_first_of("/,;=") != std::string::npos) {
    return "access_key_id: must be non-empty printable ASCII without '/', ',', ';' or '='";
  }
  if (config.secret_access_key.empty()) return "secret_access_key: must be set";
  if (!visibleAscii(config.session_token)) {
    return "session_token: must be printable ASCII without spaces";
  }
  if (config.timeout.count() <= 0) return "timeout: must be > 0";
  return std::nullopt;
}

// S3 error codes that are not about this request but the service being busy.
bool throttled(int status, std::string_view code) noexcept {
  return status == 429 || status == 503 || status == 409 || code == "SlowDown" ||
         code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded" ||
         code == "ServiceUnavailable";
}

}  // namespace

struct S3Client::Impl {
  // One S3 request as the operations describe it.
  struct Call {
    std::string method;  // HTTP method
    std::string key;     // full object key (prefix included); empty for bucket-level requests
    bool bucket_level = false;
    sigv4::QueryList query;
    std::string what;  // for messages: "bucket/key" or "bucket (list 'prefix')"
    int upload_fd = -1;
    std::uint64_t upload_size = 0;
    std::string payload_sha256 = std::string(sigv4::kEmptyPayloadSha256);
    int download_fd = -1;  // 2xx bodies go here instead of Reply::body
  };

  struct Reply {
    long status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // of the final response only
    std::string body;

    std::string header(std::string_view name) const {
      for (const auto& [key, value] : headers) {
        if (equalsIgnoreCase(key, name)) return value;
      }
      return {};
    }
  };

  // State the curl callbacks share; they must not throw (C frames in between).
  struct Transfer {
    Call* call = nullptr;
    Reply reply;
    std::uint64_t uploaded = 0;
    bool upload_ended_early = false;
    int read_errno = 0;
    int write_errno = 0;
    bool body_too_large = false;
    bool out_of_memory = false;
  };

  explicit Impl(S3Config c) : config(std::move(c)) {
    if (auto problem = configProblem(config)) {
      config_status = Status(ErrorType::InvalidConfig, "s3 " + *problem);
    } else {
      endpoint = *parseEndpoint(config.endpoint);
    }
  }

  std::string fullKey(std::string_view key) const { return config.prefix + std::string(key); }

  std::string describe(const Call& call) const {
    return fmt::format("s3 {} {}", call.method, call.what);
  }

  Call objectCall(std::string method, std::string_view key) const {
    Call call;
    call.method = std::move(method);
    call.key = fullKey(key);
    call.what = fmt::format("{}/{}", config.bucket, call.key);
    return call;
  }

  static std::size_t onHeader(char* data, std::size_t size, std::size_t count,
                              void* user) noexcept {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    try {
      const std::string_view line = trim(std::string_view(data, bytes));
      if (line.substr(0, 5) == "HTTP/") {
        // A new response begins (after 100 Continue, for instance): forget the previous one.
        transfer.reply.headers.clear();
        const auto space = line.find(' ');
        const auto code = space == std::string_view::npos
                              ? std::nullopt
                              : parseNumber<long>(line.substr(space + 1, 3));
        transfer.reply.status = code.value_or(0);
      } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        transfer.reply.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                            std::string(trim(line.substr(colon + 1))));
      }
    } catch (...) {
      transfer.out_of_memory = true;
      return 0;
    }
    return bytes;
  }

  static std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) noexcept {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t bytes = size * count;
    const long status = transfer.reply.status;
    if (transfer.call->download_fd >= 0 && status >= 200 && status < 300) {
      std::size_t written = 0;
      while (written < bytes) {
        const ssize_t n = ::write(transfer.call->download_fd, data + written, bytes - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          transfer.write_errno = n < 0 ? errno : EIO;
          return 0;  // aborts the transfer with CURLE_WRITE_ERROR
        }
        written += static_cast<std::size_t>(n);
      }
      return bytes;
    }
    if (transfer.reply.body.size() + bytes > kMaxBodyBytes) {
      transfer.body_too_large = true;
      return 0;
    }
    try {
      transfer.reply.body.append(data, bytes);
    } catch (...) {
      transfer.out_of_memory = true;
      return 0;
    }
    return bytes;
  }

  static std::size_t onRead(char* buffer, std::size_t size, std::size_t count,
                            void* user) noexcept {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::uint64_t remaining = transfer.call->upload_size - transfer.uploaded;
    // Never more than announced: a file that grew since it was hashed still sends the hashed part.
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(size * count, remaining));
    if (want == 0) return 0;
    for (;;) {
      const ssize_t n = ::read(transfer.call->upload_fd, buffer, want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        transfer.read_errno = errno;
        return CURL_READFUNC_ABORT;
      }
      if (n == 0) transfer.upload_ended_early = true;  // the file shrank since it was hashed
      transfer.uploaded += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
  }

  // curl rewinds the body when it must send it again (a redirect, a retried connection).
  static int onSeek(void* user, curl_off_t offset, int origin) noexcept {
    auto& transfer = *static_cast<Transfer*>(user);
    if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
    if (::lseek(transfer.call->upload_fd, static_cast<off_t>(offset), SEEK_SET) < 0) {
      return CURL_SEEKFUNC_FAIL;
    }
    transfer.uploaded = static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
  }

  // Sends `call` and returns the final response whatever its status; errors are transport,
  // local file and setup failures only.
  Result<Reply> perform(Call& call) {
    if (!config_status) return config_status;
    if (globalInit() != CURLE_OK) {
      return Error{ErrorType::Internal, describe(call) + ": curl_global_init failed"};
    }
    if (!easy) easy.reset(curl_easy_init());
    if (!easy) return Error{ErrorType::Internal, describe(call) + ": curl_easy_init failed"};
    CURL* handle = easy.get();
    curl_easy_reset(handle);  // keeps the connection cache

    std::string authority = endpoint.authority;
    std::string path;
    if (config.path_style) {
      path = "/" + config.bucket;
      if (!call.bucket_level) path += "/" + sigv4::encodePath(call.key);
    } else {
      authority = config.bucket + "." + authority;
      path = "/" + (call.bucket_level ? std::string() : sigv4::encodePath(call.key));
    }
    // The query goes out exactly as signed, so servers that check the raw query agree too.
    const std::string query = sigv4::canonicalQueryString(call.query);
    const std::string url = fmt::format("{}://{}{}{}{}", endpoint.scheme, authority, path,
                                        query.empty() ? "" : "?", query);

    const sigv4::HeaderList headers = sigv4::sign(
        sigv4::Request{call.method, path, call.query, {{"Host", authority}}, call.payload_sha256},
        sigv4::Credentials{config.access_key_id, config.secret_access_key, config.session_token},
        config.region, "s3", std::chrono::system_clock::now());
    std::unique_ptr<curl_slist, SlistDeleter> header_list;
    for (const auto& [name, value] : headers) {
      const std::string line = name + ": " + value;
      curl_slist* appended = curl_slist_append(header_list.get(), line.c_str());
      if (appended == nullptr) {
        return Error{ErrorType::Internal, describe(call) + ": out of memory"};
      }
      if (!header_list) header_list.reset(appended);
    }

    Transfer transfer;
    transfer.call = &call;
    char error_buffer[CURL_ERROR_SIZE] = {};
    const long timeout_ms = static_cast<long>(config.timeout.count());
    const long stall_s = std::max(1L, (timeout_ms + 999) / 1000);
    const bool streams = call.upload_fd >= 0 || call.download_fd >= 0;

    bool ok = true;
    auto set = [&](CURLoption option, auto value) {
      if (curl_easy_setopt(handle, option, value) != CURLE_OK) ok = false;
    };
    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_PATH_AS_IS, 1L);  // S3 keys may hold "." and ".." segments; never squash them
    set(CURLOPT_HTTPHEADER, header_list.get());
    set(CURLOPT_USERAGENT, "point-tron/" POINTTRON_VERSION);
    set(CURLOPT_ERRORBUFFER, error_buffer);
    set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    set(CURLOPT_LOW_SPEED_LIMIT, 1L);
    set(CURLOPT_LOW_SPEED_TIME, stall_s);
    if (!streams) set(CURLOPT_TIMEOUT_MS, timeout_ms);
    set(CURLOPT_HEADERFUNCTION, &Impl::onHeader);
    set(CURLOPT_HEADERDATA, &transfer);
    set(CURLOPT_WRITEFUNCTION, &Impl::onBody);
    set(CURLOPT_WRITEDATA, &transfer);
    if (call.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else if (call.method == "PUT") {
      set(CURLOPT_UPLOAD, 1L);
      set(CURLOPT_READFUNCTION, &Impl::onRead);
      set(CURLOPT_READDATA, &transfer);
      set(CURLOPT_SEEKFUNCTION, &Impl::onSeek);
      set(CURLOPT_SEEKDATA, &transfer);
      set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.upload_size));
    } else if (call.method != "GET") {
      set(CURLOPT_CUSTOMREQUEST, call.method.c_str());
    }
    if (!ok) return Error{ErrorType::Internal, describe(call) + ": curl_easy_setopt failed"};

    const CURLcode rc = curl_easy_perform(handle);
    if (rc != CURLE_OK) {
      if (transfer.read_errno != 0) {
        return Error{ErrorType::Io, fmt::format("{}: reading the file to upload: {}",
                                                describe(call), errnoText(transfer.read_errno))};
      }
      if (transfer.upload_ended_early) {
        return Error{ErrorType::Io, fmt::format("{}: the file to upload shrank while it was sent",
                                                describe(call))};
      }
      if (transfer.write_errno != 0) {
        return Error{ErrorType::Io, fmt::format("{}: writing the download: {}", describe(call),
                                                errnoText(transfer.write_errno))};
      }
      if (transfer.body_too_large) {
        return Error{ErrorType::InvalidPayload,
                     fmt::format("{}: HTTP {} response body over {} bytes", describe(call),
                                 transfer.reply.status, kMaxBodyBytes)};
      }
      if (transfer.out_of_memory) {
        return Error{ErrorType::Internal, describe(call) + ": out of memory"};
      }
      const std::string detail =
          error_buffer[0] != '\0' ? sanitize(error_buffer) : curl_easy_strerror(rc);
      return Error{rc == CURLE_OPERATION_TIMEDOUT ? ErrorType::Timeout : ErrorType::Http,
                   fmt::format("{}: {}", describe(call), detail)};
    }
    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    transfer.reply.status = status;
    return std::move(transfer.reply);
  }

  // The error for a response that is not a success, classified for the caller's retry policy.
  Error httpError(const Call& call, const Reply& reply) const {
    const int status = static_cast<int>(reply.status);
    const std::string code = sanitize(elementText(reply.body, "Code"));
    std::string detail = sanitize(elementText(reply.body, "Message"));
    const std::string request_id = sanitize(reply.header("x-amz-request-id"));

    ErrorType type = ErrorType::InvalidArgument;
    if (status == 401 || status == 403) {
      type = ErrorType::InvalidConfig;
      const std::string& id = config.access_key_id;  // an identifier, not a secret
      if (code == "SignatureDoesNotMatch") {
        detail = fmt::format(
            "the secret access key does not match access key id '{}' (or the server computes "
            "signatures differently)",
            id);
      } else if (code == "InvalidAccessKeyId") {
        detail = fmt::format("the server does not know access key id '{}'", id);
      } else if (code == "InvalidToken" || code == "ExpiredToken") {
        detail = "the session token is invalid or expired";
      } else if (code == "AccessDenied") {
        detail = fmt::format("access key id '{}' is not allowed to do this", id);
      } else if (code == "RequestTimeTooSkewed") {
        detail = "this machine's clock differs too much from the server's";
      } else if (code.empty()) {
        detail = "credentials refused or not allowed";
      }
    } else if (code == "NoSuchBucket" || code == "PermanentRedirect" ||
               code == "AuthorizationHeaderMalformed" || code == "InvalidBucketName" ||
               status == 301 || status == 307) {
      type = ErrorType::InvalidConfig;  // wrong bucket, endpoint or region
    } else if (throttled(status, code)) {
      type = ErrorType::Unavailable;
    } else if (status == 408 || code == "RequestTimeout") {
      type = ErrorType::Timeout;
    } else if (status >= 500 || status < 400) {
      type = ErrorType::Http;  // server failures, and statuses S3 never answers these requests with
    } else if (code == "XAmzContentSHA256Mismatch" || code == "BadDigest" ||
               code == "IncompleteBody") {
      type = ErrorType::Io;
      detail = "the file changed while it was uploaded";
    } else if (status == 404 && code.empty()) {
      detail = "no such key (or bucket)";  // HEAD answers carry no body
    }
    return Error{type,
                 fmt::format("{}: HTTP {} {}{}{}{}", describe(call), status,
                             code.empty() ? "(no error code)" : code, detail.empty() ? "" : ": ",
                             detail, request_id.empty() ? "" : " (request id " + request_id + ")")};
  }

  S3Config config;
  Status config_status;
  Endpoint endpoint;
  std::unique_ptr<CURL, EasyDeleter> easy;  // reused: keeps the connection alive between calls
};

S3Client::S3Client(S3Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}

S3Client::~S3Client() = default;

Status S3Client::validate(const S3Config& config) {
  if (auto problem = configProblem(config)) {
    return Status(ErrorType::InvalidConfig, "s3 " + *problem);
  }
  return Status::ok();
}

Result<ObjectInfo> S3Client::putFile(std::string_view key, const std::string& local_path) {
  Impl::Call call = impl_->objectCall("PUT", key);
  Fd file(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    return Error{ErrorType::Io, fmt::format("{}: open {}: {}", impl_->describe(call), local_path,
                                            errnoText(errno))};
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return Error{ErrorType::Io,
                 fmt::format("{}: {} is not a regular file", impl_->describe(call), local_path)};
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > kMaxPutBytes) {
    return Error{ErrorType::InvalidArgument,
                 fmt::format("{}: {} has {} bytes, more than one PUT takes ({})",
                             impl_->describe(call), local_path, size, kMaxPutBytes)};
  }

  // Hash exactly the bytes that will be sent: the first `size` of them.
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> digest(EVP_MD_CTX_new());
  if (!digest || EVP_DigestInit_ex(digest.get(), EVP_sha256(), nullptr) != 1) {
    return Error{ErrorType::Internal, impl_->describe(call) + ": EVP_DigestInit_ex failed"};
  }
  std::string buffer(kIoChunk, '\0');
  std::uint64_t hashed = 0;
  while (hashed < size) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kIoChunk, size - hashed));
    const ssize_t n = ::read(file.get(), buffer.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Error{ErrorType::Io,
                   fmt::format("{}: reading {}: {}", impl_->describe(call), local_path,
                               n < 0 ? errnoText(errno) : "file shrank")};
    }
    if (EVP_DigestUpdate(digest.get(), buffer.data(), static_cast<std::size_t>(n)) != 1) {
      return Error{ErrorType::Internal, impl_->describe(call) + ": EVP_DigestUpdate failed"};
    }
    hashed += static_cast<std::uint64_t>(n);
  }
  unsigned char sha[EVP_MAX_MD_SIZE];
  unsigned int sha_length = 0;
  if (EVP_DigestFinal_ex(digest.get(), sha, &sha_length) != 1) {
    return Error{ErrorType::Internal, impl_->describe(call) + ": EVP_DigestFinal_ex failed"};
  }
  if (::lseek(file.get(), 0, SEEK_SET) != 0) {
    return Error{ErrorType::Io, fmt::format("{}: seeking {}: {}", impl_->describe(call), local_path,
                                            errnoText(errno))};
  }

  call.payload_sha256 =
      sigv4::hex(std::string_view(reinterpret_cast<const char*>(sha), sha_length));
  call.upload_fd = file.get();
  call.upload_size = size;
  auto reply = impl_->perform(call);
  if (!reply) return reply.error();
  if (reply->status < 200 || reply->status >= 300) return impl_->httpError(call, *reply);
  return ObjectInfo{std::string(key), size, stripQuotes(reply->header("ETag")), {}};
}

Result<ObjectInfo> S3Client::head(std::string_view key) {
  Impl::Call call = impl_->objectCall("HEAD", key);
  auto reply = impl_->perform(call);
  if (!reply) return reply.error();
  if (reply->status < 200 || reply->status >= 300) return impl_->httpError(call, *reply);
  const auto size = parseNumber<std::uint64_t>(reply->header("Content-Length"));
  if (!size) {
    return Error{ErrorType::InvalidPayload,
                 impl_->describe(call) + ": the answer has no valid Content-Length"};
  }
  ObjectInfo object{std::string(key), *size, stripQuotes(reply->header("ETag")), {}};
  if (auto modified = parseHttpDate(reply->header("Last-Modified"))) {
    object.last_modified = *modified;
  }
  return object;
}

Status S3Client::getToFile(std::string_view key, const std::string& local_path) {
  Impl::Call call = impl_->objectCall("GET", key);
  std::string temp_path = local_path + ".part-XXXXXX";
  Fd file(::mkostemp(temp_path.data(), O_CLOEXEC));
  if (file.get() < 0) {
    return Status(ErrorType::Io, fmt::format("{}: creating {}: {}", impl_->describe(call),
                                             temp_path, errnoText(errno)));
  }
  // Removes the temporary file on every path but success.
  struct TempGuard {
    std::string path;
    ~TempGuard() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } guard{temp_path};

  call.download_fd = file.get();
  auto reply = impl_->perform(call);
  if (!reply) return reply.error();
  if (reply->status < 200 || reply->status >= 300) return impl_->httpError(call, *reply);
  if (::fsync(file.get()) != 0 || file.closeChecked() != 0) {
    return Status(ErrorType::Io, fmt::format("{}: writing {}: {}", impl_->describe(call), temp_path,
                                             errnoText(errno)));
  }
  if (::rename(temp_path.c_str(), local_path.c_str()) != 0) {
    return Status(ErrorType::Io, fmt::format("{}: renaming {} to {}: {}", impl_->describe(call),
                                             temp_path, local_path, errnoText(errno)));
  }
  guard.path.clear();
  // The rename is durable only once the directory is; a failure here loses nothing but that.
  const auto slash = local_path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : local_path.substr(0, slash + 1);
  if (Fd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir.get() >= 0) {
    [[maybe_unused]] const int synced = ::fsync(dir.get());
  }
  return Status::ok();
}

Result<std::vector<ObjectInfo>> S3Client::list(std::string_view prefix, std::uint32_t page_size) {
  const std::string full_prefix = impl_->fullKey(prefix);
  Impl::Call call;
  call.method = "GET";
  call.bucket_level = true;
  call.what = fmt::format("{} (list '{}')", impl_->config.bucket, full_prefix);
  if (page_size < 1 || page_size > 1000) {
    return Error{ErrorType::InvalidArgument, fmt::format("{}: page_size must be 1..1000 (got {})",
                                                         impl_->describe(call), page_size)};
  }

  std::vector<ObjectInfo> objects;
  std::string token;
  for (;;) {
    call.query = {{"list-type", "2"}, {"max-keys", std::to_string(page_size)}};
    if (!full_prefix.empty()) call.query.emplace_back("prefix", full_prefix);
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    auto reply = impl_->perform(call);
    if (!reply) return reply.error();
    if (reply->status < 200 || reply->status >= 300) return impl_->httpError(call, *reply);

    const std::string_view xml = reply->body;
    if (xml.find("<ListBucketResult") == std::string_view::npos) {
      return Error{ErrorType::InvalidPayload,
                   impl_->describe(call) + ": the answer is not a ListBucketResult"};
    }
    for (std::size_t at = 0;;) {
      const auto begin = xml.find("<Contents>", at);
      if (begin == std::string_view::npos) break;
      const auto end = xml.find("</Contents>", begin);
      if (end == std::string_view::npos) {
        return Error{ErrorType::InvalidPayload, impl_->describe(call) + ": unterminated Contents"};
      }
      const std::string_view contents = xml.substr(begin, end - begin);
      at = end;
      std::string key = elementText(contents, "Key");
      const auto size = parseNumber<std::uint64_t>(elementText(contents, "Size"));
      if (key.substr(0, full_prefix.size()) != full_prefix || !size) {
        return Error{ErrorType::InvalidPayload,
                     impl_->describe(call) + ": an entry has no valid Key or Size"};
      }
      ObjectInfo object{key.substr(impl_->config.prefix.size()),
                        *size,
                        stripQuotes(elementText(contents, "ETag")),
                        {}};
      if (auto modified = parseIso8601(elementText(contents, "LastModified"))) {
        object.last_modified = *modified;
      }
      objects.push_back(std::move(object));
    }
    if (elementText(xml, "IsTruncated") != "true") return objects;
    std::string next = elementText(xml, "NextContinuationToken");
    if (next.empty() || next == token) {
      return Error{ErrorType::InvalidPayload,
                   impl_->describe(call) + ": truncated listing without a new continuation token"};
    }
    token = std::move(next);
  }
}

Status S3Client::remove(std::string_view key) {
  Impl::Call call = impl_->objectCall("DELETE", key);
  auto reply = impl_->perform(call);
  if (!reply) return reply.error();
  if (reply->status < 200 || reply->status >= 300) return impl_->httpError(call, *reply);
  return Status::ok();
}

}  // namespace stages::persister::backup
