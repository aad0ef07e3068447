#include "pipeline/health/health.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>
#include <exception>

#include "pipeline/json.h"

namespace pipeline::health {

std::string_view stateName(State state) noexcept {
  switch (state) {
    case State::Healthy: return "healthy";
    case State::Degraded: return "degraded";
    case State::Unhealthy: return "unhealthy";
  }
  return "unhealthy";
}

double gaugeValue(State state) noexcept {
  switch (state) {
    case State::Healthy: return 1.0;
    case State::Degraded: return 0.5;
    case State::Unhealthy: return 0.0;
  }
  return 0.0;
}

void Registry::add(std::string name, Check check, Affects affects) {
  entries_.push_back({std::move(name), std::move(check), affects});
}

Registry::Report Registry::evaluate() const {
  Report report;
  report.ready = !draining_;
  for (const auto& entry : entries_) {
    CheckResult result;
    try {
      result = entry.check();
    } catch (const std::exception& e) {
      result = {State::Unhealthy, fmt::format("Check failed: {}", e.what())};
    }
    if (result.state > report.overall) report.overall = result.state;
    if (result.state == State::Unhealthy && entry.affects == Affects::Readiness) {
      report.ready = false;
    }
    report.checks.emplace_back(entry.name, std::move(result));
  }
  return report;
}

std::string Registry::toJson(const Report& report, std::chrono::system_clock::time_point now,
                             std::chrono::steady_clock::duration uptime) {
  const auto millis =
      std::chrono::time_point_cast<std::chrono::milliseconds>(now).time_since_epoch().count();
  // fmt 9 formats a time_point in local time; the timestamp is UTC whatever TZ says.
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  json::Writer w;
  w.beginObject();
  w.field("success", report.overall != State::Unhealthy);
  w.key("data").beginObject();
  w.field("status", stateName(report.overall));
  w.field("timestamp", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", utc, millis % 1000));
  w.field("uptime", std::chrono::duration<double>(uptime).count());
  w.field("ready", report.ready);
  w.key("checks").beginObject();
  for (const auto& [name, result] : report.checks) {
    w.key(name).beginObject();
    w.field("status", stateName(result.state));
    w.field("detail", result.detail);
    w.endObject();
  }
  w.endObject();
  w.endObject();
  w.endObject();
  return std::move(w).str();
}

}  // namespace pipeline::health
