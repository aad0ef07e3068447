#include "tests/integration/stage_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "tests/support/raw_http.h"

extern char** environ;

namespace testsupport {

using std::chrono::milliseconds;

std::string stagePath(const std::string& stage) {
  std::string path = fmt::format("{}/bin/pointtron-{}", POINTTRON_BINARY_DIR, stage);
  return ::access(path.c_str(), X_OK) == 0 ? path : "";
}

std::optional<std::int64_t> jsonInt(std::string_view text, std::string_view name) {
  const std::string needle = fmt::format("\"{}\":", name);
  const auto at = text.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t begin = at + needle.size();
  while (begin < text.size() && (text[begin] == ' ' || text[begin] == '"')) ++begin;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data() + begin, text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::optional<std::uint16_t> waitForPort(ChildProcess& child, ChildLog& log,
                                         std::string_view message, milliseconds deadline) {
  std::optional<std::uint16_t> port;
  child.readUntil(
      [&](std::string_view line) {
        log.add(line);
        if (line.find(message) == std::string_view::npos) return false;
        auto value = jsonInt(line, "port");
        if (value && *value > 0 && *value < 65536) port = static_cast<std::uint16_t>(*value);
        return port.has_value();
      },
      deadline);
  return port;
}

std::int64_t wallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool waitUntil(const std::function<bool()>& check, milliseconds deadline, milliseconds period) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  while (!check()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    struct timespec pause {
      static_cast<time_t>(period.count() / 1000), static_cast<long>(period.count() % 1000) * 1'000'000
    };
    ::nanosleep(&pause, nullptr);  // the polling period, not synchronisation
  }
  return true;
}

std::optional<HttpAnswer> httpRequest(std::uint16_t port, std::string_view method,
                                      std::string_view path, std::string_view body,
                                      milliseconds timeout) {
  RawConnection connection(port, timeout);
  if (!connection.connected()) return std::nullopt;
  std::string request = fmt::format(
      "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n", method, path, port);
  if (!body.empty() || method == "POST") {
    request += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n",
                           body.size());
  }
  request += "\r\n";
  request += body;
  if (!connection.send(request)) return std::nullopt;
  auto response = connection.readResponse();
  if (!response) return std::nullopt;
  return HttpAnswer{response->status, std::move(response->body)};
}

void ChildLog::collect(ChildProcess& child) {
  child.readUntil(
      [&](std::string_view line) {
        add(line);
        return false;
      },
      milliseconds(0));
}

void ChildLog::add(std::string_view line) {
  lines_.emplace_back(line);
  if (lines_.size() > keep_ * 2) lines_.erase(lines_.begin(), lines_.end() - keep_);
}

std::string ChildLog::text() const {
  std::string out;
  const std::size_t from = lines_.size() > keep_ ? lines_.size() - keep_ : 0;
  for (std::size_t i = from; i < lines_.size(); ++i) out += "  | " + lines_[i] + "\n";
  return out;
}

std::unique_ptr<StageProcess> StageProcess::start(const std::string& stage,
                                                  const std::map<std::string, std::string>& env) {
  const std::string path = stagePath(stage);
  if (path.empty()) {
    ADD_FAILURE() << "pointtron-" << stage << " is not built in " << POINTTRON_BINARY_DIR << "/bin";
    return nullptr;
  }
  // env(1) execs the stage in the same process, so the pid and signals are the stage's.
  std::vector<std::string> argv{"/usr/bin/env"};
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string name(text.substr(0, text.find('=')));
    if (name.starts_with("POINTTRON_") && name.find("__") != std::string::npos &&
        !env.contains(name)) {
      argv.push_back("-u");
      argv.push_back(name);
    }
  }
  std::map<std::string, std::string> all = env;
  all.try_emplace("POINTTRON_HTTP__PORT", "0");
  for (const auto& [name, value] : all) argv.push_back(name + "=" + value);
  argv.push_back(path);
  auto child = ChildProcess::spawn(argv);
  if (!child) return nullptr;
  std::unique_ptr<StageProcess> self(new StageProcess());
  auto port = waitForPort(*child, self->log_, "Admin HTTP listening.", std::chrono::seconds(30));
  self->child_ = std::move(child);
  if (!port) {
    self->log_.collect(*self->child_);
    auto status = self->child_->waitExit(milliseconds(100));
    ADD_FAILURE() << "pointtron-" << stage << " did not report its admin port"
                  << (status ? fmt::format(" (wait status {})", *status) : std::string())
                  << "; its output:\n"
                  << self->log_.text();
    return nullptr;
  }
  self->http_port_ = *port;
  return self;
}

StageProcess::~StageProcess() = default;

std::string StageProcess::metricsText() {
  auto answer = httpRequest(http_port_, "GET", "/metrics");
  if (!answer || answer->status != 200) return "";
  return answer->body;
}

std::optional<double> StageProcess::metric(const std::string& name,
                                      const std::map<std::string, std::string>& labels) {
  const std::string text = metricsText();
  std::size_t line_start = 0;
  while (line_start < text.size()) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    const std::string_view line(text.data() + line_start, line_end - line_start);
    line_start = line_end + 1;
    if (line.empty() || line[0] == '#' || !line.starts_with(name)) continue;
    std::size_t at = name.size();
    std::map<std::string, std::string> found;
    if (at < line.size() && line[at] == '{') {
      const auto close = line.find('}', at);
      if (close == std::string_view::npos) continue;
      std::string_view inner = line.substr(at + 1, close - at - 1);
      while (!inner.empty()) {
        const auto eq = inner.find("=\"");
        const auto quote = inner.find('"', eq + 2);
        if (eq == std::string_view::npos || quote == std::string_view::npos) break;
        found[std::string(inner.substr(0, eq))] = std::string(inner.substr(eq + 2, quote - eq - 2));
        inner.remove_prefix(std::min(inner.size(), quote + 2));  // past `",`
      }
      at = close + 1;
    }
    if (at >= line.size() || line[at] != ' ') continue;
    const bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& label) {
      auto it = found.find(label.first);
      return it != found.end() && it->second == label.second;
    });
    if (!match) continue;
    return std::strtod(std::string(line.substr(at + 1)).c_str(), nullptr);
  }
  return std::nullopt;
}

std::optional<int> StageProcess::kill() {
  child_->signal(SIGKILL);
  child_->readToEnd([&](std::string_view line) { log_.add(line); }, std::chrono::seconds(10));
  return child_->waitExit(std::chrono::seconds(10));
}

std::optional<int> StageProcess::stop() {
  child_->signal(SIGTERM);
  child_->readToEnd([&](std::string_view line) { log_.add(line); }, std::chrono::seconds(30));
  return child_->waitExit(milliseconds(100));
}

bool StageProcess::running() {
  // Takes the lines printed so far; true = stdout ended, which is the process's last act.
  return !child_->readToEnd([&](std::string_view line) { log_.add(line); }, milliseconds(0));
}

std::string StageProcess::log() {
  if (child_) log_.collect(*child_);
  return log_.text();
}

}  // namespace testsupport
