#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace pipeline::health {

enum class State { Healthy, Degraded, Unhealthy };

std::string_view stateName(State state) noexcept;

/** What one named check found; `detail` is a short sentence for operators (no secrets). */
struct CheckResult {
  State state = State::Healthy;
  std::string detail;
};

/** Whether a check's failure makes the process not ready (it still counts for /health). */
enum class Affects { Readiness, HealthOnly };

/**
 * Named health checks of one process, evaluated on demand on the loop thread. A check must be
 * cheap and non-blocking: it reports state the stage already keeps (last broker contact, last
 * successful commit), it does not perform I/O.
 *
 * /health      -> the seed's shape, HTTP 503 when the worst check is Unhealthy
 * /health/live -> 200 while the loop serves requests
 * /health/ready-> 503 when a Readiness check is Unhealthy, or while the process drains
 */
class Registry {
 public:
  using Check = std::function<CheckResult()>;

  void add(std::string name, Check check, Affects affects = Affects::Readiness);

  struct Report {
    State overall = State::Healthy;
    bool ready = true;
    std::vector<std::pair<std::string, CheckResult>> checks;
  };

  /** Runs every check; a check that throws is reported Unhealthy with its message. */
  Report evaluate() const;

  /** Marks the process as draining: not ready from now on (load balancers stop sending). */
  void setDraining() noexcept { draining_ = true; }
  bool draining() const noexcept { return draining_; }

  /** {"success":…,"data":{"status","timestamp","uptime","ready","checks":{name:{status,detail}}}}. */
  static std::string toJson(const Report& report, std::chrono::system_clock::time_point now,
                            std::chrono::steady_clock::duration uptime);

 private:
  struct Entry {
    std::string name;
    Check check;
    Affects affects;
  };
  std::vector<Entry> entries_;
  bool draining_ = false;
};

/** 1 for healthy, 0.5 degraded, 0 unhealthy: the value of point_tron_health_status. */
double gaugeValue(State state) noexcept;

}  // namespace pipeline::health
