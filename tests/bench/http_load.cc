// HTTP load on keep-alive connections, one thread and one libcurl connection each. Two modes, both
// plain drivers (repetitions and CPU accounting are the scripts' business):
//
// Block ranges on a TRON node API, for ops/bench/tronsim_serving.sh: how fast one server (tronsim)
// answers POST /wallet/getblockbylimitnext back to back, without any consumer work behind the
// client.
//
//   http_load --url http://127.0.0.1:8090 --first A --last B [--range N] [--connections C]
//             [--passes P]
//
// Heights [A, B] are cut into ranges of N blocks (default 20, at most 100 as java-tron allows);
// C threads (default 1) take the next range until P passes (default 1) over [A, B] are done. Every
// answer must be HTTP 200 with a `{"block":[{` body, else the run fails (exit 1). One line on
// stdout:
//   RESULT connections=C range=N blocks=... requests=... bytes=... seconds=... blocks_per_s=... MB_per_s=...
// seconds = first request sent -> last answer received; MB = 10^6 body bytes.
//
// GET requests on the query API, for ops/bench/persister_api.sh: requests/s and the latency the
// client sees.
//
//   http_load --url http://127.0.0.1:3000 --get PATH [--get PATH ...] [--bearer TOKEN]
//             [--seconds D] [--connections C]
//
// C threads (default 1) send GETs back to back for D seconds (default 10), each cycling through
// the paths (a path keeps its query string), connection i starting at path i; `--bearer` adds
// `Authorization: Bearer TOKEN`. SIGINT or SIGTERM ends the run early, with its result (a script
// can load a server exactly as long as something else takes). Every answer must be HTTP 200 with a `{"success":true` body, else
// the run fails (exit 1). One line on stdout:
//   RESULT connections=C paths=K requests=... bytes=... seconds=... requests_per_s=...
//          p50_ms=... p90_ms=... p99_ms=... max_ms=...
// A request's latency runs from handing it to libcurl to its last body byte, so it includes the
// time the client thread waits for a CPU: on a shared machine it is what a caller would see.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kBlockListStart = "{\"block\":[{";
constexpr std::string_view kApiSuccessStart = "{\"success\":true";
constexpr std::int64_t kMaxRange = 100;  // GetBlockByLimitNextServlet.BLOCK_LIMIT_NUM

// Set by SIGINT/SIGTERM: GET threads stop after their current request.
std::atomic<bool> stop_requested{false};

void requestStop(int) { stop_requested = true; }

struct Options {
  std::string url = "http://127.0.0.1:8090";
  int connections = 1;
  // Block-range mode.
  std::int64_t first = 1;
  std::int64_t last = 1000;
  std::int64_t range = 20;
  std::int64_t passes = 1;
  bool block_range_flags = false;
  // GET mode (chosen by at least one --get).
  std::vector<std::string> paths;
  std::string bearer_token;
  double seconds = 10;
};

struct Totals {
  std::atomic<std::int64_t> next_range{0};  // counts over all passes
  std::atomic<std::int64_t> blocks{0};
  std::atomic<std::int64_t> requests{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> failed{false};
};

// One answer as it streams in: its size and its first bytes, which are enough to tell a success
// from an error without keeping a 30 MB body.
struct Answer {
  std::string_view expected_start;
  std::uint64_t bytes = 0;
  std::string start;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto& answer = *static_cast<Answer*>(user);
  const std::size_t n = size * count;
  const std::size_t wanted = answer.expected_start.size();
  if (answer.start.size() < wanted) answer.start.append(data, std::min(n, wanted - answer.start.size()));
  answer.bytes += n;
  return n;
}

// One keep-alive connection: a curl easy handle with its header list, writing into `answer`.
class Connection {
 public:
  Connection(const std::vector<std::string>& headers, std::string_view expected_start)
      : curl_(curl_easy_init()) {
    answer_.expected_start = expected_start;
    for (const auto& header : headers) headers_ = curl_slist_append(headers_, header.c_str());
    if (curl_ == nullptr) return;
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &answer_);
    curl_easy_setopt(curl_, CURLOPT_BUFFERSIZE, 512L * 1024);  // fewer callbacks for 30 MB bodies
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
  }
  ~Connection() {
    curl_slist_free_all(headers_);
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool valid() const { return curl_ != nullptr; }
  CURL* handle() { return curl_; }
  const Answer& answer() const { return answer_; }

  // Sends the request configured on handle() to `url`; false (with one line on stderr naming
  // `what`) unless it got HTTP 200 and a body with the expected start.
  bool perform(const std::string& url, std::string_view what) {
    answer_.bytes = 0;
    answer_.start.clear();
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    const CURLcode code = curl_easy_perform(curl_);
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK && status == 200 && answer_.start == answer_.expected_start) return true;
    std::fprintf(stderr, "http_load: %.*s: %s, HTTP %ld, body starts \"%s\"\n", static_cast<int>(what.size()),
                 what.data(), curl_easy_strerror(code), status, answer_.start.c_str());
    return false;
  }

 private:
  CURL* curl_;
  curl_slist* headers_ = nullptr;
  Answer answer_;
};

void runBlockRanges(const Options& options, Totals& totals) {
  Connection connection({"Content-Type: application/json"}, kBlockListStart);
  if (!connection.valid()) {
    std::fputs("http_load: curl_easy_init failed\n", stderr);
    totals.failed = true;
    return;
  }
  const std::string url = options.url + "/wallet/getblockbylimitnext";
  const std::int64_t ranges_per_pass = (options.last - options.first + options.range) / options.range;
  std::string body;
  while (!totals.failed.load()) {
    const std::int64_t index = totals.next_range.fetch_add(1);
    if (index >= ranges_per_pass * options.passes) break;
    const std::int64_t start = options.first + (index % ranges_per_pass) * options.range;
    const std::int64_t end = std::min(start + options.range, options.last + 1);
    body = fmt::format(R"({{"startNum":{},"endNum":{}}})", start, end);
    curl_easy_setopt(connection.handle(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(connection.handle(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    if (!connection.perform(url, fmt::format("range {}-{}", start, end))) {
      totals.failed = true;
      break;
    }
    totals.blocks += end - start;
    totals.requests += 1;
    totals.bytes += connection.answer().bytes;
  }
}

// Sends GETs until `deadline`; appends each request's latency in nanoseconds to `latencies`.
void runGets(const Options& options, std::size_t first_path, Clock::time_point deadline, Totals& totals,
             std::vector<std::int64_t>& latencies) {
  std::vector<std::string> headers;
  if (!options.bearer_token.empty()) headers.push_back("Authorization: Bearer " + options.bearer_token);
  Connection connection(headers, kApiSuccessStart);
  if (!connection.valid()) {
    std::fputs("http_load: curl_easy_init failed\n", stderr);
    totals.failed = true;
    return;
  }
  std::vector<std::string> urls;
  for (const auto& path : options.paths) urls.push_back(options.url + path);
  curl_easy_setopt(connection.handle(), CURLOPT_HTTPGET, 1L);
  for (std::size_t i = first_path; !totals.failed.load() && !stop_requested.load(); ++i) {
    const auto sent = Clock::now();
    if (sent >= deadline) break;
    const std::string& url = urls[i % urls.size()];
    if (!connection.perform(url, url)) {
      totals.failed = true;
      break;
    }
    latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count());
    totals.requests += 1;
    totals.bytes += connection.answer().bytes;
  }
}

bool parseInt(std::string_view text, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parseArgs(int argc, char** argv, Options& options) {
  if (argc % 2 != 1) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string_view value = argv[i + 1];
    if (flag == "--url") {
      options.url = std::string(value);
      continue;
    }
    if (flag == "--get") {
      if (!value.starts_with('/')) return false;
      options.paths.emplace_back(value);
      continue;
    }
    if (flag == "--bearer") {
      options.bearer_token = std::string(value);
      continue;
    }
    std::int64_t number = 0;
    if (!parseInt(value, number)) return false;
    if (flag == "--connections") {
      options.connections = static_cast<int>(number);
    } else if (flag == "--seconds") {
      options.seconds = static_cast<double>(number);
    } else if (flag == "--first") {
      options.first = number;
    } else if (flag == "--last") {
      options.last = number;
    } else if (flag == "--range") {
      options.range = number;
    } else if (flag == "--passes") {
      options.passes = number;
    } else {
      return false;
    }
    options.block_range_flags |= flag != "--connections" && flag != "--seconds";
  }
  if (options.connections < 1 || options.connections > 64) return false;
  if (!options.paths.empty()) return !options.block_range_flags && options.seconds >= 1;
  return options.range >= 1 && options.range <= kMaxRange && options.first <= options.last && options.passes >= 1;
}

// The latency below which `fraction` of the sorted samples lie (nearest rank), in ms.
double percentileMs(const std::vector<std::int64_t>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size()));
  return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]) / 1e6;
}

int loadBlockRanges(const Options& options) {
  Totals totals;
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < options.connections; ++i) {
    threads.emplace_back(runBlockRanges, std::cref(options), std::ref(totals));
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (totals.failed) return 1;
  const auto blocks = static_cast<double>(totals.blocks.load());
  const auto bytes = static_cast<double>(totals.bytes.load());
  std::printf("RESULT connections=%d range=%lld blocks=%lld requests=%lld bytes=%.0f seconds=%.3f "
              "blocks_per_s=%.0f MB_per_s=%.1f\n",
              options.connections, static_cast<long long>(options.range),
              static_cast<long long>(totals.blocks.load()), static_cast<long long>(totals.requests.load()),
              bytes, seconds, blocks / seconds, bytes / seconds / 1e6);
  return 0;
}

int loadGets(const Options& options) {
  std::signal(SIGINT, requestStop);
  std::signal(SIGTERM, requestStop);
  Totals totals;
  std::vector<std::vector<std::int64_t>> latencies(static_cast<std::size_t>(options.connections));
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < latencies.size(); ++i) {
    threads.emplace_back(runGets, std::cref(options), i, deadline, std::ref(totals), std::ref(latencies[i]));
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (totals.failed) return 1;
  std::vector<std::int64_t> all;
  for (const auto& own : latencies) all.insert(all.end(), own.begin(), own.end());
  std::sort(all.begin(), all.end());
  const auto requests = totals.requests.load();
  std::printf("RESULT connections=%d paths=%zu requests=%lld bytes=%llu seconds=%.3f requests_per_s=%.0f "
              "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
              options.connections, options.paths.size(), static_cast<long long>(requests),
              static_cast<unsigned long long>(totals.bytes.load()), seconds,
              static_cast<double>(requests) / seconds, percentileMs(all, 0.50), percentileMs(all, 0.90),
              percentileMs(all, 0.99), all.empty() ? 0.0 : static_cast<double>(all.back()) / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parseArgs(argc, argv, options)) {
    std::fputs("usage: http_load --url URL --first A --last B [--range 1..100] [--connections 1..64] "
               "[--passes P]\n"
               "       http_load --url URL --get PATH [--get PATH ...] [--bearer TOKEN] [--seconds D] "
               "[--connections 1..64]\n",
               stderr);
    return 64;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int exit_code = options.paths.empty() ? loadBlockRanges(options) : loadGets(options);
  curl_global_cleanup();
  return exit_code;
}
