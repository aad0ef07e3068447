#include "stages/cli/status.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <thread>

#include "pipeline/clock.h"
#include "pipeline/http/client.h"
#include "pipeline/runtime.h"

namespace stages::cli {
namespace {

constexpr std::string_view kStatusUsage = R"(Usage: pointtron status [--watch] [--interval SECONDS] [--host HOST] [--port-offset N]

Asks every stage's admin endpoint (fetcher :9101, decoder :9102, aggregator :9103, alerter :9104,
persister :3000 on HOST, default 127.0.0.1) for /health and /metrics and prints a table.
Exit code 0 when every stage answers and none is unhealthy, 1 otherwise.

  --watch       one progress line every interval until interrupted (updated in place on a
                terminal): heights fetched / decoded / folded / persisted, lag, blocks/s, health
  --interval S  seconds between lines with --watch (default 2)
  --port-offset N  the stages listen on their default ports + N (./pointtron up with
                POINTTRON_UP_PORT_OFFSET)
)";

std::string_view trimSpaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<double> parseNumber(std::string_view text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// `a="x",b="y\"z"` (the inside of the braces) into a map; false if malformed.
bool parseLabels(std::string_view text, MetricSamples::Labels& labels) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    std::string name(trimSpaces(text.substr(i, eq - i)));
    std::string value;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value.push_back(text[j] == 'n' ? '\n' : text[j]);
      } else {
        value.push_back(text[j]);
      }
    }
    if (j >= text.size()) return false;
    labels.emplace(std::move(name), std::move(value));
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  return true;
}

// "healthy" and nothing, or the status and the first check that is not healthy.
void readHealth(std::string_view body, StageReport& report) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(body);
  auto document = parser.iterate(padded);
  std::string_view status;
  if (document["data"]["status"].get_string().get(status) != simdjson::SUCCESS) {
    report.health = "unknown";
    report.detail = "/health did not answer with the stage's JSON";
    return;
  }
  report.health = std::string(status);
  if (status == "healthy") return;
  simdjson::ondemand::object checks;
  if (document["data"]["checks"].get_object().get(checks) != simdjson::SUCCESS) return;
  for (auto field : checks) {
    std::string_view name;
    if (field.unescaped_key().get(name) != simdjson::SUCCESS) continue;
    const std::string check_name(name);
    simdjson::ondemand::object check;
    if (field.value().get_object().get(check) != simdjson::SUCCESS) continue;
    std::string_view check_status;
    std::string_view detail;
    if (check["status"].get_string().get(check_status) != simdjson::SUCCESS) continue;
    if (check_status == "healthy") continue;
    if (check["detail"].get_string().get(detail) != simdjson::SUCCESS) detail = check_status;
    report.detail = fmt::format("{}: {}", check_name, detail);
    return;
  }
}

const StageReport* find(const Snapshot& snapshot, std::string_view stage) {
  for (const auto& report : snapshot.stages) {
    if (report.stage == stage) return &report;
  }
  return nullptr;
}

std::optional<double> metric(const Snapshot& snapshot, std::string_view stage,
                             std::string_view name, const MetricSamples::Labels& labels = {}) {
  const StageReport* report = find(snapshot, stage);
  return report != nullptr ? report->metrics.value(name, labels) : std::nullopt;
}

std::string number(std::optional<double> value) {
  if (!value || std::isnan(*value)) return "?";
  return fmt::format("{:.0f}", *value);
}

// The key figures of one stage, from its metrics.
std::string figures(const StageReport& report) {
  const auto& m = report.metrics;
  if (m.empty()) return "";
  if (report.stage == "fetcher") {
    return fmt::format("height {} of {} (lag {})", number(m.value("point_tron_fetcher_last_emitted_height")),
                       number(m.value("point_tron_fetcher_head_height")),
                       number(m.value("point_tron_fetcher_lag_blocks")));
  }
  if (report.stage == "decoder") {
    return fmt::format("{} blocks decoded, {} to the DLQ",
                       number(m.value("point_tron_decoder_decoded_blocks_total")),
                       number(m.sum("point_tron_decoder_rejected_blocks_total")));
  }
  if (report.stage == "aggregator") {
    const auto z = m.value("point_tron_aggregator_parity_z_score");
    return fmt::format("height {}, score {}, today {} odd / {} even, z {}",
                       number(m.value("point_tron_aggregator_folded_height")),
                       number(m.value("point_tron_aggregator_score")),
                       number(m.value("point_tron_aggregator_day_blocks", {{"parity", "odd"}})),
                       number(m.value("point_tron_aggregator_day_blocks", {{"parity", "even"}})),
                       z ? fmt::format("{:+.2f}", *z) : "?");
  }
  if (report.stage == "persister") {
    std::string text = fmt::format("height {}", number(m.value("point_tron_persister_block_height")));
    const auto committed = m.value("point_tron_persister_last_commit_timestamp_seconds");
    if (committed && *committed > 0) {
      const double age = static_cast<double>(pipeline::wallClockMs()) / 1000.0 - *committed;
      text += fmt::format(", last commit {:.0f} s ago", std::max(0.0, age));
    }
    return text;
  }
  if (report.stage == "alerter") {
    return fmt::format("{} firing, {} pending",
                       number(m.value("point_tron_alerter_alerts", {{"state", "firing"}})),
                       number(m.value("point_tron_alerter_alerts", {{"state", "pending"}})));
  }
  return "";
}

}  // namespace

std::vector<StageEndpoint> defaultEndpoints(const std::string& host, int port_offset) {
  std::vector<StageEndpoint> endpoints;
  for (const auto& [stage, port] : {std::pair<const char*, int>{"fetcher", 9101},
                                    {"decoder", 9102},
                                    {"aggregator", 9103},
                                    {"persister", 3000},
                                    {"alerter", 9104}}) {
    endpoints.push_back({stage, fmt::format("{}:{}", host, port + port_offset)});
  }
  return endpoints;
}

MetricSamples MetricSamples::parse(std::string_view exposition) {
  MetricSamples result;
  while (!exposition.empty()) {
    const std::size_t newline = exposition.find('\n');
    std::string_view line = trimSpaces(exposition.substr(0, newline));
    exposition.remove_prefix(newline == std::string_view::npos ? exposition.size() : newline + 1);
    if (line.empty() || line.front() == '#') continue;
    Sample sample;
    std::string_view rest;
    if (const std::size_t brace = line.find('{'); brace != std::string_view::npos) {
      const std::size_t close = line.rfind('}');
      if (close == std::string_view::npos || close < brace) continue;
      sample.name = std::string(line.substr(0, brace));
      if (!parseLabels(line.substr(brace + 1, close - brace - 1), sample.labels)) continue;
      rest = trimSpaces(line.substr(close + 1));
    } else {
      const std::size_t space = line.find(' ');
      if (space == std::string_view::npos) continue;
      sample.name = std::string(line.substr(0, space));
      rest = trimSpaces(line.substr(space + 1));
    }
    // The value, then an optional timestamp.
    const auto value = parseNumber(rest.substr(0, rest.find(' ')));
    if (!value) continue;
    sample.value = *value;
    result.samples_.push_back(std::move(sample));
  }
  return result;
}

std::optional<double> MetricSamples::value(std::string_view name, const Labels& labels) const {
  for (const auto& sample : samples_) {
    if (sample.name != name) continue;
    bool matches = true;
    for (const auto& [label, wanted] : labels) {
      const auto it = sample.labels.find(label);
      matches = matches && it != sample.labels.end() && it->second == wanted;
    }
    if (matches) return sample.value;
  }
  return std::nullopt;
}

std::optional<double> MetricSamples::sum(std::string_view name) const {
  std::optional<double> total;
  for (const auto& sample : samples_) {
    if (sample.name == name) total = total.value_or(0) + sample.value;
  }
  return total;
}

Snapshot collect(uv_loop_t& loop, const std::vector<StageEndpoint>& endpoints,
                 std::chrono::milliseconds timeout) {
  Snapshot snapshot{.at = std::chrono::steady_clock::now(), .stages = {}};
  for (const auto& endpoint : endpoints) {
    snapshot.stages.push_back({.stage = endpoint.stage, .address = endpoint.address});
  }
  auto client = pipeline::http::Client::create(
      loop, {.max_concurrent = 16, .default_timeout = timeout, .connect_timeout = timeout});
  if (!client) {
    for (auto& report : snapshot.stages) report.detail = client.error().message;
    return snapshot;
  }
  // Two answers per stage; each callback runs exactly once (an answer, an error or a timeout).
  std::size_t outstanding = 2 * snapshot.stages.size();
  for (auto& report : snapshot.stages) {
    StageReport* target = &report;
    (*client)->request({.url = fmt::format("http://{}/health", report.address)},
                       [target, &outstanding](pipeline::Result<pipeline::http::Response> response) {
                         --outstanding;
                         if (!response) {
                           target->detail = "no answer: " + response.error().message;
                           return;
                         }
                         readHealth(response->body, *target);
                       });
    (*client)->request({.url = fmt::format("http://{}/metrics", report.address)},
                       [target, &outstanding](pipeline::Result<pipeline::http::Response> response) {
                         --outstanding;
                         if (response && response->status == 200) {
                           target->metrics = MetricSamples::parse(response->body);
                         }
                       });
  }
  while (outstanding > 0) uv_run(&loop, UV_RUN_ONCE);
  bool closed = false;
  (*client)->close([&closed] { closed = true; });
  while (!closed) uv_run(&loop, UV_RUN_ONCE);
  return snapshot;
}

std::string formatTable(const Snapshot& snapshot) {
  std::string out = fmt::format("{:<11}{:<17}{:<11}{:>8}  {}\n", "STAGE", "ADDRESS", "HEALTH", "RSS",
                                "FIGURES");
  for (const auto& report : snapshot.stages) {
    const auto rss = report.metrics.value("process_resident_memory_bytes");
    out += fmt::format("{:<11}{:<17}{:<11}{:>8}  {}\n", report.stage, report.address, report.health,
                       rss ? fmt::format("{:.0f} MB", *rss / 1e6) : "-", figures(report));
  }
  for (const auto& report : snapshot.stages) {
    if (report.health != "healthy" && !report.detail.empty()) {
      out += fmt::format("{}: {}\n", report.stage, report.detail);
    }
  }
  return out;
}

std::string formatLine(const Snapshot& snapshot, const Snapshot* previous) {
  const auto persisted = metric(snapshot, "persister", "point_tron_persister_block_height");
  std::string line = fmt::format(
      "fetched {} (lag {}) · decoded {} · folded {} · persisted {}",
      number(metric(snapshot, "fetcher", "point_tron_fetcher_last_emitted_height")),
      number(metric(snapshot, "fetcher", "point_tron_fetcher_lag_blocks")),
      number(metric(snapshot, "decoder", "point_tron_decoder_decoded_blocks_total")),
      number(metric(snapshot, "aggregator", "point_tron_aggregator_folded_height")),
      number(persisted));
  if (previous != nullptr) {
    const auto before = metric(*previous, "persister", "point_tron_persister_block_height");
    const double seconds = std::chrono::duration<double>(snapshot.at - previous->at).count();
    // A persister that just started reports height 0 until it read its database.
    if (persisted && before && *before > 0 && seconds > 0) {
      line += fmt::format(" · {:.1f} blocks/s", std::max(0.0, *persisted - *before) / seconds);
    }
  }
  std::vector<std::string> trouble;
  for (const auto& report : snapshot.stages) {
    if (report.health != "healthy") trouble.push_back(report.stage + " " + report.health);
  }
  line += trouble.empty() ? fmt::format(" · all {} healthy", snapshot.stages.size())
                          : fmt::format(" · {}", fmt::join(trouble, ", "));
  return line;
}

bool allUp(const Snapshot& snapshot) {
  for (const auto& report : snapshot.stages) {
    if (report.health != "healthy" && report.health != "degraded") return false;
  }
  return true;
}

int runStatus(const std::vector<std::string_view>& arguments) {
  bool watch = false;
  double interval_s = 2;
  std::string host = "127.0.0.1";
  int port_offset = 0;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string_view arg = arguments[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kStatusUsage.data(), stdout);
      return 0;
    }
    if (arg == "--watch") {
      watch = true;
    } else if (arg == "--interval" && i + 1 < arguments.size()) {
      const auto value = parseNumber(arguments[++i]);
      if (!value || !(*value >= 0.1 && *value <= 3600)) {
        std::fprintf(stderr, "pointtron status: --interval must be seconds in [0.1, 3600]\n");
        return pipeline::kExitUsage;
      }
      interval_s = *value;
    } else if (arg == "--port-offset" && i + 1 < arguments.size()) {
      const auto value = parseNumber(arguments[++i]);
      if (!value || *value != std::floor(*value) || *value < 0 || *value > 50000) {
        std::fprintf(stderr, "pointtron status: --port-offset must be an integer in [0, 50000]\n");
        return pipeline::kExitUsage;
      }
      port_offset = static_cast<int>(*value);
    } else if (arg == "--host" && i + 1 < arguments.size()) {
      host = std::string(arguments[++i]);
    } else {
      std::fputs(kStatusUsage.data(), stderr);
      return pipeline::kExitUsage;
    }
  }
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return pipeline::kExitFatal;
  const auto endpoints = defaultEndpoints(host, port_offset);
  const auto timeout = std::chrono::milliseconds(1000);
  int code = 0;
  if (!watch) {
    const Snapshot snapshot = collect(loop, endpoints, timeout);
    std::fputs(formatTable(snapshot).c_str(), stdout);
    code = allUp(snapshot) ? 0 : 1;
  } else {
    // On a terminal the line is rewritten in place; in a log, one line per interval.
    const bool terminal = ::isatty(STDOUT_FILENO) == 1;
    // The first sample only starts the blocks/s figure: stages just started are not "down".
    Snapshot previous = collect(loop, endpoints, timeout);
    for (;;) {
      // Pacing of a display, not synchronisation: the next sample is taken a whole interval on.
      std::this_thread::sleep_for(std::chrono::duration<double>(interval_s));
      Snapshot snapshot = collect(loop, endpoints, timeout);
      const std::string line = formatLine(snapshot, &previous);
      std::fputs(terminal ? fmt::format("\r\033[K{}", line).c_str() : (line + "\n").c_str(), stdout);
      std::fflush(stdout);
      previous = std::move(snapshot);
    }
  }
  // collect() returns when its client reported closed; the close callbacks of the client's
  // handles may still be queued, and a loop closed before they ran would leak them.
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return code;
}

}  // namespace stages::cli
