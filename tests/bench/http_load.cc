// Block-range load on a TRON node API, for ops/bench/tronsim_serving.sh: how fast one server
// (tronsim) answers POST /wallet/getblockbylimitnext back to back, without any consumer work
// behind the client. A plain driver; repetitions and CPU accounting are the script's business.
//
//   http_load --url http://127.0.0.1:8090 --first A --last B [--range N] [--connections C]
//             [--passes P]
//
// Heights [A, B] are cut into ranges of N blocks (default 20, at most 100 as java-tron allows);
// C threads (default 1), each with one keep-alive connection, take the next range until P passes
// (default 1) over [A, B] are done. Every answer must be HTTP 200 with a `{"block":[{` body, else the run fails (exit 1). One
// line on stdout:
//   RESULT connections=C range=N blocks=... requests=... bytes=... seconds=... blocks_per_s=... MB_per_s=...
// seconds = first request sent -> last answer received; MB = 10^6 body bytes.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kExpectedStart = "{\"block\":[{";
constexpr std::int64_t kMaxRange = 100;  // GetBlockByLimitNextServlet.BLOCK_LIMIT_NUM

struct Options {
  std::string url = "http://127.0.0.1:8090";
  std::int64_t first = 1;
  std::int64_t last = 1000;
  std::int64_t range = 20;
  int connections = 1;
  std::int64_t passes = 1;
};

struct Totals {
  std::atomic<std::int64_t> next_range{0};  // counts over all passes
  std::atomic<std::int64_t> blocks{0};
  std::atomic<std::int64_t> requests{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> failed{false};
};

// One answer as it streams in: its size and its first bytes, which are enough to tell a block
// list from `{}` or an error without keeping 30 MB.
struct Answer {
  std::uint64_t bytes = 0;
  std::string start;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto& answer = *static_cast<Answer*>(user);
  const std::size_t n = size * count;
  if (answer.start.size() < kExpectedStart.size()) {
    answer.start.append(data, std::min(n, kExpectedStart.size() - answer.start.size()));
  }
  answer.bytes += n;
  return n;
}

void runConnection(const Options& options, Totals& totals) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fputs("http_load: curl_easy_init failed\n", stderr);
    totals.failed = true;
    return;
  }
  const std::string url = options.url + "/wallet/getblockbylimitnext";
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  Answer answer;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);  // fewer callbacks for 30 MB bodies
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const std::int64_t ranges_per_pass =
      (options.last - options.first + options.range) / options.range;
  std::string body;
  while (!totals.failed.load()) {
    const std::int64_t index = totals.next_range.fetch_add(1);
    if (index >= ranges_per_pass * options.passes) break;
    const std::int64_t start = options.first + (index % ranges_per_pass) * options.range;
    const std::int64_t end = std::min(start + options.range, options.last + 1);
    body = fmt::format(R"({{"startNum":{},"endNum":{}}})", start, end);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    answer = Answer{};
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status != 200 || answer.start != kExpectedStart) {
      std::fprintf(stderr, "http_load: range %lld-%lld: %s, HTTP %ld, body starts \"%s\"\n",
                   static_cast<long long>(start), static_cast<long long>(end),
                   curl_easy_strerror(code), status, answer.start.c_str());
      totals.failed = true;
      break;
    }
    totals.blocks += end - start;
    totals.requests += 1;
    totals.bytes += answer.bytes;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}

bool parseInt(std::string_view text, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parseArgs(int argc, char** argv, Options& options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string_view value = argv[i + 1];
    std::int64_t number = 0;
    if (flag == "--url") {
      options.url = std::string(value);
      continue;
    }
    if (!parseInt(value, number)) return false;
    if (flag == "--first") {
      options.first = number;
    } else if (flag == "--last") {
      options.last = number;
    } else if (flag == "--range") {
      options.range = number;
    } else if (flag == "--passes") {
      options.passes = number;
    } else if (flag == "--connections") {
      options.connections = static_cast<int>(number);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && options.range >= 1 && options.range <= kMaxRange &&
         options.connections >= 1 && options.connections <= 64 && options.first <= options.last && options.passes >= 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parseArgs(argc, argv, options)) {
    std::fputs("usage: http_load --url URL --first A --last B [--range 1..100] "
               "[--connections 1..64] [--passes P]\n",
               stderr);
    return 64;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Totals totals;
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < options.connections; ++i) {
    threads.emplace_back(runConnection, std::cref(options), std::ref(totals));
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  curl_global_cleanup();
  if (totals.failed) return 1;
  const auto blocks = static_cast<double>(totals.blocks.load());
  const auto bytes = static_cast<double>(totals.bytes.load());
  std::printf("RESULT connections=%d range=%lld blocks=%lld requests=%lld bytes=%.0f seconds=%.3f "
              "blocks_per_s=%.0f MB_per_s=%.1f\n",
              options.connections, static_cast<long long>(options.range),
              static_cast<long long>(totals.blocks.load()),
              static_cast<long long>(totals.requests.load()), bytes, seconds, blocks / seconds,
              bytes / seconds / 1e6);
  return 0;
}
