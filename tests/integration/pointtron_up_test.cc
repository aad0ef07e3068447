// `./pointtron up --sim` as a newcomer runs it, on the real broker: the whole pipeline on a
// simulated node, blocks and statistics in the API within a minute, a killed stage restarted by
// the supervisor, and SIGTERM leaving no process behind.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tests/integration/child_process.h"
#include "tests/support/kafka_env.h"
#include "tests/support/raw_http.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Stats {
  std::int64_t latest_height = 0;
  std::int64_t today_blocks = 0;
};

std::optional<std::int64_t> jsonInteger(const std::string& body, const std::regex& pattern) {
  std::smatch match;
  if (!std::regex_search(body, match, pattern)) return std::nullopt;
  return std::stoll(match[1].str());
}

// GET /api/blocks/stats with the persister's generated token; nullopt until it answers with a block.
std::optional<Stats> fetchStats(std::uint16_t port, const std::string& token_file) {
  std::ifstream file(token_file);
  std::string token;
  if (!(file >> token)) return std::nullopt;
  testsupport::RawConnection connection(port, 2000ms);
  if (!connection.connected()) return std::nullopt;
  if (!connection.send(fmt::format("GET /api/blocks/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
                                   token))) {
    return std::nullopt;
  }
  const auto response = connection.readResponse();
  if (!response || response->status != 200) return std::nullopt;
  static const std::regex latest(R"re("latest_block":\{"height":(\d+))re");
  static const std::regex today(R"re("today":\{[^}]*"blocks":(\d+))re");
  const auto height = jsonInteger(response->body, latest);
  const auto blocks = jsonInteger(response->body, today);
  if (!height || !blocks) return std::nullopt;
  return Stats{*height, *blocks};
}

// Polls `probe` every 250 ms until it yields a value satisfying `accept`, or the deadline passes.
template <typename Probe, typename Accept>
auto pollUntil(Probe probe, Accept accept, std::chrono::milliseconds deadline) -> decltype(probe()) {
  const auto until = Clock::now() + deadline;
  for (;;) {
    auto value = probe();
    if (value && accept(*value)) return value;
    if (Clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(250ms);  // polling interval of a bounded wait on a condition
  }
}

// Processes whose environment carries `marker` (every child of this `up` inherits it).
std::vector<pid_t> processesWith(const std::string& marker) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::ifstream environ(entry.path() / "environ", std::ios::binary);
    std::stringstream content;
    content << environ.rdbuf();
    if (content.str().find(marker) != std::string::npos) found.push_back(pid);
  }
  return found;
}

bool portIsFree(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return free;
}

// An offset for `up`'s ports (admin 9101-9104 and 3000, tronsim 8090) under which all six are
// free. They stay below Linux's ephemeral range (32768+), where outgoing connections would
// take them, and below the test broker's ports (19100+).
int freePortOffset() {
  std::mt19937 random(static_cast<unsigned>(::getpid()));
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int offset = 1000 + static_cast<int>(random() % 800) * 10;
    bool all_free = true;
    for (int port : {9101, 9102, 9103, 9104, 3000, 8090}) all_free = all_free && portIsFree(port + offset);
    if (all_free) return offset;
  }
  return 0;
}

std::optional<pid_t> startedPid(std::string_view line, std::string_view stage) {
  const std::string prefix = fmt::format("up: started {} (pid ", stage);
  if (!line.starts_with(prefix)) return std::nullopt;
  return static_cast<pid_t>(std::stol(std::string(line.substr(prefix.size()))));
}

TEST(PointtronUpTest, RunsThePipelineRestartsAKilledStageAndStopsCleanly) {
  testsupport::TempDir dir("up-test");
  ASSERT_TRUE(dir.ok());
  // Its own topics, database, logs, key and ports, so a pipeline the user runs is not touched.
  const std::string prefix = fmt::format("uptest-{}-{}.", ::getpid(), ::time(nullptr));
  const int port_offset = freePortOffset();
  ASSERT_GT(port_offset, 0) << "no free set of ports";
  const auto api_port = static_cast<std::uint16_t>(3000 + port_offset);
  const std::string key_file =
      dir.write("backup.key", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
  ASSERT_EQ(0, ::chmod(key_file.c_str(), 0600));
  const std::vector<std::pair<std::string, std::string>> env = {
      {"BUILD_DIR", POINTTRON_BINARY_DIR},
      {"POINTTRON_SKIP_INSTALL", "1"},
      {"POINTTRON_SKIP_BUILD", "1"},
      {"POINTTRON_UP_PORT_OFFSET", std::to_string(port_offset)},
      {"POINTTRON_UP_LOG_DIR", dir.file("log")},
      {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", testsupport::testBrokers()},
      {"POINTTRON_KAFKA__TOPIC_PREFIX", prefix},
      {"POINTTRON_PERSISTER__DATA_DIR", dir.file("persister")},
      {"POINTTRON_BACKUP__DIRECTORY", dir.file("backups")},
      {"POINTTRON_BACKUP__KEY_FILE", key_file},
      {"POINTTRON_BACKUP__INTERVAL_S", "0"},
  };
  for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);

  const auto started = Clock::now();
  auto up = testsupport::ChildProcess::spawn(
      {"/bin/bash", POINTTRON_SOURCE_DIR "/pointtron", "up", "--sim"});
  ASSERT_NE(nullptr, up);
  // A failed assertion returns early: `up` still gets SIGTERM so it stops what it started
  // (the ChildProcess destructor's SIGKILL would leave its children running).
  struct StopOnExit {
    testsupport::ChildProcess* up;
    ~StopOnExit() {
      if (up == nullptr) return;
      up->signal(SIGTERM);
      (void)up->readToEnd([](std::string_view) {}, 120s);
      (void)up->waitExit(10s);
    }
  } stop_on_exit{up.get()};
  std::optional<pid_t> decoder;
  ASSERT_TRUE(up->readUntil(
      [&](std::string_view line) {
        if (auto pid = startedPid(line, "decoder")) decoder = pid;
        return line.find("Ctrl-C stops everything") != std::string_view::npos;
      },
      180s))
      << "up did not start the pipeline";
  ASSERT_TRUE(decoder.has_value());

  // Blocks and today's statistics in the API within a minute of the command.
  const auto first = pollUntil([&] { return fetchStats(api_port, dir.file("persister/api_token")); },
                               [](const Stats& s) { return s.latest_height > 0 && s.today_blocks > 0; },
                               60s);
  ASSERT_TRUE(first.has_value()) << "no block in the API 60 s after the pipeline started";
  const auto to_first_block = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started);
  std::printf("first block in the API %lld s after ./pointtron up --sim\n",
              static_cast<long long>(to_first_block.count()));

  // A killed stage is restarted, and blocks flow through its successor.
  ASSERT_EQ(0, ::kill(*decoder, SIGKILL));
  std::optional<pid_t> successor;
  bool exit_reported = false;
  ASSERT_TRUE(up->readUntil(
      [&](std::string_view line) {
        // 137: the shell's code for death by SIGKILL.
        exit_reported = exit_reported || line.starts_with("up: decoder exited with 137");
        successor = startedPid(line, "decoder");
        return successor.has_value();
      },
      30s))
      << "the supervisor did not restart the killed decoder";
  EXPECT_TRUE(exit_reported);
  EXPECT_NE(*decoder, *successor);
  const std::int64_t height_at_kill = first->latest_height;
  const auto later = pollUntil([&] { return fetchStats(api_port, dir.file("persister/api_token")); },
                               [&](const Stats& s) { return s.latest_height >= height_at_kill + 3; }, 60s);
  EXPECT_TRUE(later.has_value()) << "no new block persisted after the decoder's restart";

  // The progress line (every 30 s when stdout is not a terminal).
  EXPECT_TRUE(up->readUntil([](std::string_view line) { return line.starts_with("fetched "); }, 45s))
      << "no progress line";
  EXPECT_EQ(0, testsupport::runCommand({POINTTRON_BINARY_DIR "/bin/pointtron", "status", "--port-offset",
                                        std::to_string(port_offset)}))
      << "pointtron status: a stage is down or unhealthy";

  // SIGTERM stops everything in order; nothing started for this run is left.
  stop_on_exit.up = nullptr;
  up->signal(SIGTERM);
  std::vector<std::string> stopped;
  ASSERT_TRUE(up->readToEnd([&](std::string_view line) { stopped.emplace_back(line); }, 120s));
  const auto status = up->waitExit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  ASSERT_FALSE(stopped.empty());
  EXPECT_EQ("up: stopped.", stopped.back());
  const std::vector<std::string> order = {"fetcher", "decoder", "aggregator", "persister", "alerter"};
  std::size_t next = 0;
  for (const auto& line : stopped) {
    if (next < order.size() && line == "up: " + order[next] + " stopped") ++next;
  }
  EXPECT_EQ(order.size(), next) << "stages not stopped in pipeline order";
  EXPECT_TRUE(processesWith("POINTTRON_KAFKA__TOPIC_PREFIX=" + prefix).empty())
      << "a process of this run outlived ./pointtron up";
}

}  // namespace
