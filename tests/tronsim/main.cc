// tronsim: a TRON full-node HTTP API simulator (docs/tronsim.md). Wiring only.
#include <fmt/format.h>
#include <uv.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pipeline/log/logging.h"
#include "pipeline/uv/handle.h"
#include "tests/tronsim/chain.h"
#include "tests/tronsim/faults.h"
#include "tests/tronsim/node.h"
#include "tests/tronsim/server.h"

namespace {

constexpr int kExitUsage = 64;  // EX_USAGE

constexpr std::string_view kUsage =
    "usage: tronsim serve [--port P] [--host 127.0.0.1] [--seed S] [--profile mainnet|small|empty]\n"
    "                     [--first-height H] [--first-timestamp-ms T]\n"
    "                     [--head H | --live-interval-ms N [--start-height H] | --wall-clock [--start-height H]]\n"
    "                     [--missed-slot-rate R] [--solidity-lag N] [--recorded DIR]\n"
    "                     [--latency-ms N] [--jitter-ms N] [--latency-path P] [--fault SPEC]...\n"
    "                     [--faults-json JSON] [--fault-seed S] [--log-level LEVEL]\n"
    "                     [--prerender [--prerender-max-bytes B]]\n"
    "       tronsim block N [--seed S] [--profile P] [--first-height H] [--first-timestamp-ms T]\n"
    "                     [--missed-slot-rate R]\n"
    "                     [--visible] [--header]\n"
    "see docs/tronsim.md\n";

struct UsageError {
  std::string message;
};

template <typename T>
T parseNumber(std::string_view flag, std::string_view text, T min, T max) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    throw UsageError{fmt::format("{}: must be an integer {}..{} (got \"{}\")", flag, min, max, text)};
  }
  return value;
}

double parseRate(std::string_view flag, std::string_view text) {
  std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(value >= 0.0 && value < 1.0)) {
    throw UsageError{fmt::format("{}: must be a number in [0, 1) (got \"{}\")", flag, text)};
  }
  return value;
}

tronsim::Profile parseProfileFlag(std::string_view text) {
  if (auto profile = tronsim::parseProfile(text)) return *profile;
  throw UsageError{fmt::format("--profile: must be mainnet, small or empty (got \"{}\")", text)};
}

// Walks argv: flag() returns the next flag, value() its argument.
class Args {
 public:
  Args(int argc, char** argv, int start) : args_(argv + start, argv + argc) {}
  bool done() const { return index_ >= args_.size(); }
  std::string_view next() { return args_[index_++]; }
  std::string_view value(std::string_view flag) {
    if (done()) throw UsageError{fmt::format("{}: missing value", flag)};
    return next();
  }

 private:
  std::vector<std::string_view> args_;
  std::size_t index_ = 0;
};

struct ServeOptions {
  tronsim::NodeOptions node;
  pipeline::http::ServerOptions http;
  tronsim::FaultConfig faults;
  std::optional<std::uint64_t> fault_seed;
  pipeline::log::Level log_level = pipeline::log::Level::Info;
  bool prerender = false;
  std::size_t prerender_max_bytes = 8'000'000'000;  // ≈ 28,000 mainnet blocks
};

bool chainFlag(std::string_view flag, Args& args, tronsim::ChainOptions& chain) {
  if (flag == "--seed") {
    chain.seed = parseNumber<std::uint64_t>(flag, args.value(flag), 0, UINT64_MAX);
  } else if (flag == "--profile") {
    chain.profile = parseProfileFlag(args.value(flag));
  } else if (flag == "--first-height") {
    chain.first_height = parseNumber<std::int64_t>(flag, args.value(flag), 0, INT64_MAX / 2);
  } else if (flag == "--first-timestamp-ms") {
    chain.first_timestamp_ms = parseNumber<std::int64_t>(flag, args.value(flag), 0, INT64_MAX / 2);
  } else if (flag == "--missed-slot-rate") {
    chain.missed_slot_rate = parseRate(flag, args.value(flag));
  } else {
    return false;
  }
  return true;
}

ServeOptions parseServe(Args& args) {
  ServeOptions options;
  options.http.port = 8090;  // java-tron's FullNode HTTP port
  options.http.max_body_bytes = 4 * 1024 * 1024;  // node.http.maxMessageSize
  std::optional<std::int64_t> head;
  std::optional<std::int64_t> start_height;
  bool fixed_timestamps = false;
  while (!args.done()) {
    const std::string_view flag = args.next();
    fixed_timestamps = fixed_timestamps || flag == "--first-timestamp-ms";
    if (chainFlag(flag, args, options.node.chain)) continue;
    if (flag == "--port") {
      options.http.port = parseNumber<std::uint16_t>(flag, args.value(flag), 0, 65535);
    } else if (flag == "--host") {
      options.http.host = std::string(args.value(flag));
    } else if (flag == "--head") {
      head = parseNumber<std::int64_t>(flag, args.value(flag), 0, INT64_MAX / 2);
    } else if (flag == "--live-interval-ms") {
      options.node.live_interval_ms =
          parseNumber<std::uint64_t>(flag, args.value(flag), 1, 86'400'000);
    } else if (flag == "--wall-clock") {
      options.node.wall_clock = true;
    } else if (flag == "--start-height") {
      start_height = parseNumber<std::int64_t>(flag, args.value(flag), 0, INT64_MAX / 2);
    } else if (flag == "--solidity-lag") {
      options.node.solidity_lag = parseNumber<std::int64_t>(flag, args.value(flag), 0, 1'000'000);
    } else if (flag == "--recorded") {
      options.node.recorded_dir = std::string(args.value(flag));
    } else if (flag == "--latency-ms") {
      options.faults.latency_ms = parseNumber<std::uint64_t>(flag, args.value(flag), 0, 3'600'000);
    } else if (flag == "--jitter-ms") {
      options.faults.jitter_ms = parseNumber<std::uint64_t>(flag, args.value(flag), 0, 3'600'000);
    } else if (flag == "--latency-path") {
      options.faults.latency_path = std::string(args.value(flag));
    } else if (flag == "--fault") {
      auto rule = tronsim::FaultConfig::parseRuleSpec(args.value(flag));
      if (!rule) throw UsageError{fmt::format("--fault: {}", rule.error().message)};
      options.faults.rules.push_back(std::move(*rule));
    } else if (flag == "--faults-json") {
      auto config = tronsim::FaultConfig::fromJson(args.value(flag));
      if (!config) throw UsageError{fmt::format("--faults-json: {}", config.error().message)};
      auto rules = std::move(options.faults.rules);
      options.faults = std::move(*config);
      options.faults.rules.insert(options.faults.rules.begin(), rules.begin(), rules.end());
    } else if (flag == "--fault-seed") {
      options.fault_seed = parseNumber<std::uint64_t>(flag, args.value(flag), 0, UINT64_MAX);
    } else if (flag == "--prerender") {
      options.prerender = true;
    } else if (flag == "--prerender-max-bytes") {
      options.prerender_max_bytes =
          parseNumber<std::size_t>(flag, args.value(flag), 1, SIZE_MAX);
    } else if (flag == "--log-level") {
      auto level = pipeline::log::parseLevel(args.value(flag));
      if (!level) throw UsageError{fmt::format("--log-level: {}", level.error().message)};
      options.log_level = *level;
    } else {
      throw UsageError{fmt::format("unknown flag \"{}\" for serve", flag)};
    }
  }
  if (options.node.wall_clock) {
    // Blocks appear at their timestamps, which are the chain's 3 s slots: any other pace would
    // contradict them.
    constexpr auto kSlotMs = static_cast<std::uint64_t>(tronsim::Chain::kSlotMs);
    if (options.node.live_interval_ms != 0 && options.node.live_interval_ms != kSlotMs) {
      throw UsageError{"--live-interval-ms: must be 3000 (the slot) or absent with --wall-clock"};
    }
    if (fixed_timestamps) throw UsageError{"--first-timestamp-ms: not allowed with --wall-clock"};
    options.node.live_interval_ms = kSlotMs;
  }
  if (options.node.live_interval_ms > 0) {
    if (head) throw UsageError{"--head: not allowed in live mode (use --start-height)"};
    options.node.head = start_height.value_or(options.node.chain.first_height);
  } else {
    if (start_height) throw UsageError{"--start-height: only with --live-interval-ms or --wall-clock"};
    options.node.head = head.value_or(options.node.chain.first_height + 999);
  }
  if (options.prerender && (options.node.live_interval_ms > 0 || !options.node.recorded_dir.empty())) {
    throw UsageError{"--prerender: only in catch-up mode (--head), not live or recorded"};
  }
  options.faults.seed = options.fault_seed.value_or(options.node.chain.seed);
  return options;
}

pipeline::Status prerender(tronsim::Chain& chain, const ServeOptions& options,
                           pipeline::log::Logger& log) {
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t first = options.node.chain.first_height;
  const std::int64_t head = options.node.head;
  auto bytes = chain.prerender(first, head, options.prerender_max_bytes,
                               std::max(1u, std::thread::hardware_concurrency()));
  if (!bytes) {
    return pipeline::Error{bytes.error().type,
                           fmt::format("--prerender: {} (--prerender-max-bytes)",
                                       bytes.error().message)};
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  log.info("Prerendered.", {{"blocks", std::max<std::int64_t>(0, head - first + 1)},
                            {"bytes", *bytes},
                            {"seconds", took.count()}});
  return pipeline::Status::ok();
}

int serve(const ServeOptions& options) {
  pipeline::log::LogOptions log_options;
  log_options.service = "tronsim";
  log_options.level = options.log_level;
  if (auto status = pipeline::log::init(log_options); !status) {
    std::fprintf(stderr, "tronsim: %s\n", status.toString().c_str());
    return 1;
  }
  pipeline::log::Logger log("main");

  // A client that resets mid-answer (the fetcher on a timeout) must not kill the node.
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop{};
  if (uv_loop_init(&loop) != 0) {
    log.critical("Cannot initialise the event loop.");
    return 1;
  }
  int exit_code = 0;
  {
    tronsim::Node node(loop, options.node);
    tronsim::Faults faults(options.faults);
    auto server = std::make_unique<tronsim::TronServer>(loop, node, faults, options.http);
    std::vector<pipeline::uv::Signal> signals;
    auto start = [&]() -> pipeline::Status {
      // Before listening, so a client that sees the port open is served at full speed.
      if (options.prerender) {
        if (auto status = prerender(node.chain(), options, log); !status) return status;
      }
      if (auto status = server->listen(); !status) return status;
      if (auto status = node.start(); !status) return status;
      for (int signum : {SIGINT, SIGTERM}) {
        auto signal = pipeline::uv::Signal::create(loop);
        if (!signal) return signal.status();
        auto status = signal->start(signum, [&](int received) {
          log.info("Stopping.", {{"signal", received}});
          node.stop();
          for (auto& s : signals) s.close();
          server->stop([] {});
        });
        if (!status) return status;
        signals.push_back(std::move(*signal));
      }
      return pipeline::Status::ok();
    };
    if (auto status = start(); !status) {
      log.critical("Cannot start.", {{"error", status.toString()}});
      exit_code = 1;
    } else {
      log.info("Listening.", {{"host", options.http.host},
                              {"port", server->port()},
                              {"head", node.head()},
                              {"solid_head", node.solidHead()},
                              {"live_interval_ms", options.node.live_interval_ms},
                              {"wall_clock", options.node.wall_clock},
                              {"first_timestamp_ms", node.chain().options().first_timestamp_ms},
                              {"recorded_dir", options.node.recorded_dir},
                              {"fault_rules", options.faults.rules.size()}});
      uv_run(&loop, UV_RUN_DEFAULT);
      log.info("Stopped.", {{"requests", server->stats().requests},
                            {"body_bytes", server->stats().body_bytes}});
    }
    server.reset();
  }
  if (auto status = pipeline::uv::closeLoop(loop); !status) {
    log.error("Loop did not close cleanly.", {{"error", status.toString()}});
  }
  pipeline::log::flush();
  return exit_code;
}

int block(Args& args) {
  tronsim::ChainOptions chain;
  std::optional<std::int64_t> height;
  bool visible = false;
  bool header = false;
  while (!args.done()) {
    const std::string_view flag = args.next();
    if (chainFlag(flag, args, chain)) continue;
    if (flag == "--visible") {
      visible = true;
    } else if (flag == "--header") {
      header = true;
    } else if (!flag.starts_with("--") && !height) {
      height = parseNumber<std::int64_t>("N", flag, 0, INT64_MAX / 2);
    } else {
      throw UsageError{fmt::format("unknown argument \"{}\" for block", flag)};
    }
  }
  if (!height) throw UsageError{"block: the height N is required"};
  tronsim::Chain generated(chain);
  if (*height < chain.first_height) {
    std::fputs("{}\n", stdout);
    return 0;
  }
  const std::string json =
      header ? generated.headerJson(*height, visible) : generated.blockJson(*height, visible);
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage.data(), stderr);
    return kExitUsage;
  }
  const std::string_view command = argv[1];
  try {
    Args args(argc, argv, 2);
    if (command == "serve") return serve(parseServe(args));
    if (command == "block") return block(args);
    if (command == "--help" || command == "-h" || command == "help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    throw UsageError{fmt::format("unknown command \"{}\" (serve or block)", command)};
  } catch (const UsageError& error) {
    std::fprintf(stderr, "tronsim: %s\n", error.message.c_str());
    return kExitUsage;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tronsim: %s\n", error.what());
    return 1;
  }
}
