#include "stages/alerter/notify/email.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "stages/alerter/notify/payload.h"

namespace stages::alerter::notify {

namespace {

constexpr std::size_t kMaxLine = 998;  // RFC 5322 §2.1.1, without CRLF
constexpr std::size_t kQpLine = 76;    // RFC 2045 §6.7 (5)

bool isAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[k]));
  };
  for (; i + 2 < data.size(); i += 3) {
    const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i < data.size()) {
    std::uint32_t n = byte(i) << 16;
    if (i + 1 < data.size()) n |= byte(i + 1) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// RFC 2047 B encoded-words of at most 45 input bytes each (never splitting a UTF-8 sequence),
// folded onto continuation lines.
std::string encodeHeaderText(std::string_view text) {
  if (isAscii(text) && text.find_first_of("\r\n") == std::string_view::npos) {
    return std::string(text.substr(0, kMaxLine - 20));
  }
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = std::min(text.size(), i + 45);
    while (end < text.size() && end > i && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) {
      --end;  // do not split a UTF-8 sequence
    }
    if (end == i) end = std::min(text.size(), i + 45);
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string_view label(const LabelSet& labels, const std::string& name) {
  const auto it = labels.find(name);
  return it == labels.end() ? std::string_view() : std::string_view(it->second);
}

std::string body(const Notification& n, std::string_view external_url) {
  std::string out;
  const auto line = [&](std::string_view text) {
    out.append(text);
    out += "\n";
  };
  line(notificationTitle(n));
  line("");
  line(fmt::format("Receiver: {}", n.receiver));
  line(fmt::format("Group: {}", labelSetString(n.group_labels)));
  line(fmt::format("Alerts: {} firing, {} resolved", n.firingCount(), n.resolvedCount()));
  for (const Alert& alert : n.alerts) {
    const bool firing = alert.state != AlertState::Resolved;
    line("");
    line(fmt::format("[{}] {}", firing ? "FIRING" : "RESOLVED", alert.name()));
    if (alert.starts_at_ms != 0) line(fmt::format("  Started: {}", formatTime(alert.starts_at_ms)));
    if (!firing && alert.ends_at_ms)
      line(fmt::format("  Resolved: {}", formatTime(*alert.ends_at_ms)));
    if (alert.value) line(fmt::format("  Value: {}", *alert.value));
    for (const char* key : {"summary", "description"}) {
      const std::string_view text = label(alert.annotations, key);
      if (text.empty()) continue;
      std::string indented(text);
      for (std::size_t p = 0; (p = indented.find('\n', p)) != std::string::npos; p += 5) {
        indented.insert(p + 1, "    ");
      }
      line(fmt::format("  {}{}: {}", static_cast<char>(key[0] - 'a' + 'A'), key + 1, indented));
    }
    std::string labels;
    for (const auto& [name, value] : alert.labels) {
      labels += fmt::format("{}{}={}", labels.empty() ? "" : ", ", name, value);
    }
    line(fmt::format("  Labels: {}", labels));
    if (!alert.generator_url.empty()) line(fmt::format("  Source: {}", alert.generator_url));
  }
  line("");
  line("-- ");
  line(external_url.empty() ? std::string("Sent by the point-tron alerter.")
                            : fmt::format("Sent by the point-tron alerter: {}", external_url));
  line(fmt::format("Group key: {}", n.group_key));
  return out;
}

// LF (or CRLF) text to CRLF lines.
std::string toCrlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') continue;
    if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

struct ReadState {
  const std::string* data;
  std::size_t offset;
};

std::size_t readMessage(char* buffer, std::size_t size, std::size_t count, void* user) noexcept {
  auto* state = static_cast<ReadState*>(user);
  const std::size_t n = std::min(size * count, state->data->size() - state->offset);
  std::memcpy(buffer, state->data->data() + state->offset, n);
  state->offset += n;
  return n;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

struct CurlEasyDeleter {
  void operator()(CURL* curl) const noexcept { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

}  // namespace

std::string formatEmailDate(std::int64_t ms) {
  // formatHttpDate gives "Wed, 01 May 2024 12:00:00 GMT"; RFC 5322 prefers a numeric zone.
  std::string date = formatHttpDate(ms);
  return date.substr(0, date.size() - 3) + "+0000";
}

std::string quotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t column = 0;
  const auto emit = [&](std::string_view piece) {
    if (column + piece.size() > kQpLine - 1) {  // leave room for the soft break's '='
      out += "=\r\n";
      column = 0;
    }
    out.append(piece);
    column += piece.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      out += "\r\n";
      column = 0;
      ++i;
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
      column = 0;
      continue;
    }
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r';
    const bool literal =
        (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      const char ch = static_cast<char>(c);
      emit(std::string_view(&ch, 1));
    } else {
      const char escaped[3] = {'=', kHex[c >> 4], kHex[c & 0xf]};
      emit(std::string_view(escaped, 3));
    }
  }
  return out;
}

std::string makeMessageId(const Notification& notification, const EmailConfig& config,
                          std::int64_t now_ms, std::uint64_t sequence) {
  const auto at = config.from_address.rfind('@');
  const std::string domain = at == std::string::npos ? std::string("point-tron.invalid")
                                                     : config.from_address.substr(at + 1);
  return fmt::format(
      "{}.{}.{}@{}",
      fingerprint({{"group_key", notification.group_key}, {"receiver", notification.receiver}}),
      now_ms, sequence, domain);
}

std::string renderEmail(const Notification& notification, const EmailConfig& config,
                        std::int64_t now_ms, std::string_view external_url,
                        std::string_view message_id) {
  const std::string text = body(notification, external_url);
  bool long_lines = false;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = std::min(text.find('\n', start), text.size());
    if (end - start > kMaxLine) long_lines = true;
    start = end + 1;
  }
  const bool qp = long_lines || !isAscii(text);
  std::string out;
  out += "Date: " + formatEmailDate(now_ms) + "\r\n";
  out += "From: " + config.from + "\r\n";
  out += "To: " + config.to + "\r\n";
  out += "Subject: " + encodeHeaderText(notificationTitle(notification)) + "\r\n";
  out += fmt::format("Message-ID: <{}>\r\n", message_id);
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += fmt::format("Content-Transfer-Encoding: {}\r\n", qp ? "quoted-printable" : "7bit");
  out += "Auto-Submitted: auto-generated\r\n";
  out += "\r\n";
  out += qp ? quotedPrintable(text) : toCrlf(text);
  return out;
}

SmtpResult sendSmtp(const EmailConfig& config, const std::string& message,
                    const std::atomic<bool>& cancel) {
  std::unique_ptr<CURL, CurlEasyDeleter> curl(curl_easy_init());
  if (!curl) return {Outcome::Retry, "curl_easy_init failed", 0};
  const bool implicit_tls = config.smarthost_port == 465;
  const bool ipv6 = config.smarthost_host.find(':') != std::string::npos;
  const std::string url =
      fmt::format("{}://{}{}{}:{}", implicit_tls ? "smtps" : "smtp", ipv6 ? "[" : "",
                  config.smarthost_host, ipv6 ? "]" : "", config.smarthost_port);
  std::unique_ptr<curl_slist, SlistDeleter> recipients;
  for (const std::string& address : config.recipients) {
    curl_slist* appended =
        curl_slist_append(recipients.get(), fmt::format("<{}>", address).c_str());
    if (appended == nullptr) return {Outcome::Retry, "out of memory", 0};
    (void)recipients.release();
    recipients.reset(appended);
  }
  const std::string from = fmt::format("<{}>", config.from_address);
  ReadState state{&message, 0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &readMessage);
  curl_easy_setopt(c, CURLOPT_READDATA, &state);
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   static_cast<long>(config.require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
  if (!config.auth_username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, config.auth_username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, config.auth_password.c_str());
  }
  const long timeout_ms = static_cast<long>(config.timeout.count());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 10'000L));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(&cancel));

  const CURLcode code = curl_easy_perform(c);
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  if (code == CURLE_OK) return {Outcome::Delivered, "", reply};
  const std::string host = fmt::format("{}:{}", config.smarthost_host, config.smarthost_port);
  std::string error = fmt::format("smtp {}: {}", host, curl_easy_strerror(code));
  if (reply != 0) error += fmt::format(" (last reply {})", reply);
  switch (code) {
    case CURLE_ABORTED_BY_CALLBACK:
      return {Outcome::Retry, fmt::format("smtp {}: cancelled", host), reply};
    case CURLE_LOGIN_DENIED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return {Outcome::Reject, error, reply};
    default:
      break;
  }
  if (reply >= 500 && reply < 600) return {Outcome::Reject, error, reply};
  return {Outcome::Retry, error, reply};
}

pipeline::Result<std::unique_ptr<SmtpWorker>> SmtpWorker::create(uv_loop_t& loop) {
  std::unique_ptr<SmtpWorker> worker(new SmtpWorker());
  SmtpWorker* raw = worker.get();
  auto async = pipeline::uv::Async::create(loop, [raw] { raw->deliverResults(); });
  if (!async) return async.error();
  worker->async_ = std::move(*async);
  worker->thread_ = std::thread([raw] { raw->run(); });
  return worker;
}

SmtpWorker::~SmtpWorker() { stop(); }

void SmtpWorker::submit(EmailConfig config, std::string message, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(Job{std::move(config), std::move(message), std::move(done)});
  }
  wake_.notify_one();
}

void SmtpWorker::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  cancel_.store(true);
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mutex_);
    results_.clear();
  }
  async_.close();
}

void SmtpWorker::run() noexcept {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    SmtpResult result;
    try {
      result = sendSmtp(job.config, job.message, cancel_);
    } catch (const std::exception& e) {
      result = {Outcome::Retry, fmt::format("smtp: {}", e.what()), 0};
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      results_.emplace_back(std::move(job.done), std::move(result));
    }
    (void)async_.send();
  }
}

void SmtpWorker::deliverResults() noexcept {
  std::deque<std::pair<Done, SmtpResult>> results;
  {
    std::lock_guard lock(mutex_);
    results.swap(results_);
  }
  for (auto& [done, result] : results) {
    if (done) done(std::move(result));
  }
}

}  // namespace stages::alerter::notify
