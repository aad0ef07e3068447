#include "pipeline/metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/metrics/names.h"

namespace pipeline::metrics {
namespace {

prometheus::MetricFamily gaugeFamily(std::string_view name, std::string_view help,
                                     prometheus::MetricType type, double value,
                                     const std::string& stage) {
  prometheus::MetricFamily family;
  family.name = std::string(name);
  family.help = std::string(help);
  family.type = type;
  prometheus::ClientMetric metric;
  metric.label.push_back({"stage", stage});
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

double bootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  while (stat >> key) {
    if (key == "btime") {
      double value = 0;
      stat >> value;
      return value;
    }
  }
  return 0;
}

ProcStat readProcStat() {
  ProcStat out;
  std::ifstream file("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces; fields after it start behind the last ')'.
  auto close_paren = content.rfind(')');
  if (close_paren == std::string::npos) return out;
  std::istringstream rest(content.substr(close_paren + 2));
  std::vector<std::string> fields;
  std::string field;
  while (rest >> field) fields.push_back(field);
  // rest starts at field 3 (state); utime=14, stime=15, starttime=22, vsize=23, rss=24.
  auto at = [&](int field_number) -> double {
    auto index = static_cast<std::size_t>(field_number - 3);
    return index < fields.size() ? std::stod(fields[index]) : 0.0;
  };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  out.cpu_seconds = (at(14) + at(15)) / ticks;
  out.start_time_seconds = bootTimeSeconds() + at(22) / ticks;
  out.virtual_bytes = at(23);
  out.resident_bytes = at(24) * page;
  return out;
}

double openFds() {
  std::error_code ec;
  double count = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++count;
  }
  return count;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  const ProcStat stat = readProcStat();
  rlimit limit{};
  const double max_fds =
      getrlimit(RLIMIT_NOFILE, &limit) == 0 ? static_cast<double>(limit.rlim_cur) : 0;
  using prometheus::MetricType;
  return {
      gaugeFamily(names::kProcessCpuSeconds, "Total user and system CPU time spent in seconds.",
                  MetricType::Counter, stat.cpu_seconds, stage_),
      gaugeFamily(names::kProcessResidentMemory, "Resident memory size in bytes.",
                  MetricType::Gauge, stat.resident_bytes, stage_),
      gaugeFamily(names::kProcessVirtualMemory, "Virtual memory size in bytes.",
                  MetricType::Gauge, stat.virtual_bytes, stage_),
      gaugeFamily(names::kProcessStartTime, "Start time of the process since unix epoch in seconds.",
                  MetricType::Gauge, stat.start_time_seconds, stage_),
      gaugeFamily(names::kProcessOpenFds, "Number of open file descriptors.", MetricType::Gauge,
                  openFds(), stage_),
      gaugeFamily(names::kProcessMaxFds, "Maximum number of open file descriptors.",
                  MetricType::Gauge, max_fds, stage_),
  };
}

}  // namespace pipeline::metrics
