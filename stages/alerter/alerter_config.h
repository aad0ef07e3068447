#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"

namespace stages::alerter {

/** The alerter's keys (`alerter.*`; docs/alerting.md and docs/specs/configuration.md list them). */
struct AlerterConfig {
  /** alerter.shipped_rules (bool; true): evaluate the rules compiled in
   * (stages/alerter/rules/pointtron.rules.yaml). */
  bool shipped_rules = true;
  /** alerter.rules_files (list of paths; empty): more rule files, Prometheus's format. */
  std::vector<std::string> rules_files;
  /** alerter.notify_file (path; empty): receivers, routes and inhibition (Alertmanager's format,
   * docs/alerting.md). Empty: alerts go to the `alerts` topic and the log only. */
  std::string notify_file;
  /** alerter.evaluation_interval_ms (1000–600000; 15000): groups without their own interval. */
  std::int64_t evaluation_interval_ms = 15'000;
  /** alerter.external_url (URL; http://127.0.0.1:9104): `externalURL` of notifications and the
   * base of each alert's generatorURL (<external_url>/alerts#<alertname>). */
  std::string external_url = "http://127.0.0.1:9104";
  /** alerter.state_interval_ms (100–600000; 5000): how often changed state is written to
   * `alerter.state`, at most. */
  std::int64_t state_interval_ms = 5'000;

  /** Errors: InvalidConfig naming the key. */
  [[nodiscard]] static pipeline::Result<AlerterConfig> parse(const pipeline::config::ConfigSource& source);
};

}  // namespace stages::alerter
