#include "pipeline/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "pipeline/metric_events.h"
#include "pipeline/metrics/names.h"
#include "pipeline/metrics/process_metrics.h"
#include "pipeline/uv/handle.h"

namespace pipeline {

Result<RuntimeConfig> RuntimeConfig::parse(const config::ConfigSource& source,
                                           const StageDefinition& stage) {
  RuntimeConfig out;
  auto& kafka = out.kafka;
  auto bootstrap = source.getString("kafka.bootstrap_servers", kafka.bootstrap_servers);
  if (!bootstrap) return bootstrap.error();
  kafka.bootstrap_servers = *bootstrap;
  if (kafka.bootstrap_servers.empty()) {
    return Error{ErrorType::InvalidConfig, "kafka.bootstrap_servers: must not be empty"};
  }
  auto prefix = source.getString("kafka.topic_prefix", kafka.topic_prefix);
  if (!prefix) return prefix.error();
  kafka.topic_prefix = *prefix;
  auto client_id = source.getString("kafka.client_id", "pointtron-" + stage.name);
  if (!client_id) return client_id.error();
  kafka.client_id = *client_id;
  auto statistics = source.getInt("kafka.statistics_interval_ms", kafka.statistics_interval_ms, 0,
                                  3'600'000);
  if (!statistics) return statistics.error();
  kafka.statistics_interval_ms = static_cast<std::int32_t>(*statistics);
  auto message_timeout =
      source.getInt("kafka.message_timeout_ms", kafka.message_timeout_ms, 1000, 3'600'000);
  if (!message_timeout) return message_timeout.error();
  kafka.message_timeout_ms = static_cast<std::int32_t>(*message_timeout);
  kafka.rdkafka = source.prefixed("kafka.rdkafka.");
  auto partitions = source.getInt("kafka.data_partitions", out.topic_sizing.data_partitions, 1, 1024);
  if (!partitions) return partitions.error();
  out.topic_sizing.data_partitions = static_cast<std::int32_t>(*partitions);
  auto replication =
      source.getInt("kafka.replication_factor", out.topic_sizing.replication_factor, 1, 16);
  if (!replication) return replication.error();
  out.topic_sizing.replication_factor = static_cast<std::int16_t>(*replication);
  auto create_topics = source.getBool("kafka.create_topics", out.create_topics);
  if (!create_topics) return create_topics.error();
  out.create_topics = *create_topics;

  auto address = source.getString("http.listen_address", out.http_listen_address);
  if (!address) return address.error();
  out.http_listen_address = *address;
  unsigned char parsed[16];
  if (uv_inet_pton(AF_INET, address->c_str(), parsed) != 0 &&
      uv_inet_pton(AF_INET6, address->c_str(), parsed) != 0) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("http.listen_address: must be a numeric IPv4 or IPv6 address such as "
                             "127.0.0.1 or 0.0.0.0 (got \"{}\")",
                             *address)};
  }
  auto port = source.getInt("http.port", stage.default_http_port, 0, 65535);
  if (!port) return port.error();
  out.http_port = static_cast<std::uint16_t>(*port);

  auto publish = source.getInt("metrics.publish_interval_ms", out.metrics_publish_interval_ms, 0,
                               3'600'000);
  if (!publish) return publish.error();
  out.metrics_publish_interval_ms = *publish;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
  auto instance = source.getString("instance.id", host);
  if (!instance) return instance.error();
  out.instance_id = *instance;
  auto drain = source.getInt("shutdown.drain_timeout_ms", out.drain_timeout_ms, 100, 600'000);
  if (!drain) return drain.error();
  out.drain_timeout_ms = *drain;
  return out;
}

Status Runtime::consume(ConsumeOptions options, SyncHandler handler) {
  return consume(std::move(options),
                 [handler = std::move(handler)](kafka::Record record,
                                                kafka::Completion completion) {
                   completion.finish(handler(record));
                 });
}

namespace {

// One configuration file may serve the whole pipeline, so a stage accepts the other stages'
// sections without reading them (their own process checks them); any other unread key, such as a
// misspelt section, is an error.
struct StageSection {
  std::string_view section;
  std::string_view stage;  // the one process that reads it
};
constexpr std::array<StageSection, 6> kStageSections = {{{"fetcher", "fetcher"},
                                                         {"decoder", "decoder"},
                                                         {"aggregator", "aggregator"},
                                                         {"persister", "persister"},
                                                         {"backup", "persister"},
                                                         {"alerter", "alerter"}}};

Status checkUnknownKeys(const config::ConfigSource& config, std::string_view stage) {
  for (const auto& [section, owner] : kStageSections) {
    if (owner != stage) config.consumePrefix(std::string(section) + ".");
  }
  return config.checkUnknown();
}

}  // namespace

namespace {

constexpr std::string_view kUsage = R"(Usage: {} [--config FILE] [--print-config] [--help] [--version]

{}

  --config FILE    YAML configuration file (also POINTTRON_CONFIG); every key can be
                   overridden by POINTTRON_<SECTION>__<KEY> environment variables
  --print-config   print the effective configuration (secrets redacted) and exit
  --help           print this help and exit
  --version        print the version and exit

Admin HTTP: /health, /health/live, /health/ready, /metrics. Exit codes: 0 clean stop,
1 fatal error, 64 bad usage, 78 bad configuration.
)";

struct Arguments {
  std::string config_path;
  bool print_config = false;
};

// Parses the runtime's flags; returns the exit code to stop with instead, if any.
std::optional<int> parseArguments(int argc, char** argv, const StageDefinition& stage,
                                  Arguments& out) {
  if (const char* env = std::getenv("POINTTRON_CONFIG"); env != nullptr) out.config_path = env;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(fmt::format(kUsage, argv[0], stage.description).c_str(), stdout);
      return kExitClean;
    }
    if (arg == "--version") {
      std::printf("pointtron-%s %s\n", stage.name.c_str(), POINTTRON_VERSION);
      return kExitClean;
    }
    if (arg == "--print-config") {
      out.print_config = true;
    } else if (arg == "--config" && i + 1 < argc) {
      out.config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      out.config_path = std::string(arg.substr(9));
    } else {
      std::fprintf(stderr, "pointtron-%s: unknown argument \"%s\" (see --help)\n",
                   stage.name.c_str(), argv[i]);
      return kExitUsage;
    }
  }
  return std::nullopt;
}

class RuntimeImpl final : public Runtime {
 public:
  RuntimeImpl(uv_loop_t& loop, StageDefinition stage, config::ConfigSource config,
              RuntimeConfig settings)
      : loop_(loop),
        stage_(std::move(stage)),
        config_(std::move(config)),
        settings_(std::move(settings)),
        log_(stage_.name),
        metrics_(stage_.name),
        stage_metrics_(metrics_),
        process_metrics_(std::make_shared<metrics::ProcessMetrics>(stage_.name)),
        loop_lag_(metrics_.histogram(metrics::names::kLoopLag,
                                     "Delay of a 1 s timer beyond its schedule: loop stalls.",
                                     metrics::latencyBuckets())),
        metric_events_(metrics_.counter(metrics::names::kMetricEventsPublished,
                                        "metric.v1 batches acknowledged by the broker.")),
        http_duration_(metrics_.histogram(metrics::names::kHttpRequestDuration,
                                          "Wall time to answer one HTTP request.",
                                          metrics::latencyBuckets())) {
    metrics_.addCollectable(process_metrics_);
    metrics_
        .gauge(metrics::names::kBuildInfo, "Always 1; labels name the build.",
               {{"version", POINTTRON_VERSION}})
        .Set(1);
  }

  uv_loop_t& loop() override { return loop_; }
  const StageDefinition& stage() const override { return stage_; }
  const config::ConfigSource& config() const override { return config_; }
  const RuntimeConfig& settings() const override { return settings_; }
  const log::Logger& log() const override { return log_; }
  metrics::Registry& metrics() override { return metrics_; }
  StageMetrics& stageMetrics() override { return stage_metrics_; }
  health::Registry& health() override { return health_; }
  http::Server& http() override { return *http_; }
  EventSink& sink() override { return *producer_; }
  void onDrain(DrainHook hook) override { drain_hooks_.push_back(std::move(hook)); }
  void keep(std::shared_ptr<void> object) override { kept_.push_back(std::move(object)); }
  void stop() override { beginDrain(kExitClean); }

  void fail(const Status& status) override {
    log_.error("Fatal error; stopping.", {{"error", status.toString()}});
    beginDrain(status.error().type == ErrorType::InvalidConfig ? kExitConfig : kExitFatal);
  }

  Status consume(ConsumeOptions options, kafka::Consumer::Handler handler) override;

  /** Admin HTTP, signals, timers, topics and the producer: everything before the stage's setup. */
  Status start();
  /** Runs the loop until the drain finished, then releases everything; returns the exit code. */
  int run();

 private:
  Status startHttp();
  Status startTimers();
  Status ensureTopics();
  void publishMetrics();
  health::Registry::Report evaluateHealth();
  void beginDrain(int exit_code);
  void drainConsumers(std::size_t index);
  void runDrainHooks(std::size_t index);
  void flushProducer();
  void finishDrain();
  std::chrono::milliseconds drainTimeLeft() const;

  uv_loop_t& loop_;
  StageDefinition stage_;
  config::ConfigSource config_;
  RuntimeConfig settings_;
  log::Logger log_;
  metrics::Registry metrics_;
  StageMetrics stage_metrics_;
  std::shared_ptr<metrics::ProcessMetrics> process_metrics_;
  metrics::Histogram& loop_lag_;
  metrics::Counter& metric_events_;
  metrics::Histogram& http_duration_;
  std::map<int, metrics::Counter*> http_requests_;
  health::Registry health_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<http::Server> http_;
  std::unique_ptr<kafka::Producer> producer_;
  std::vector<std::unique_ptr<kafka::Consumer>> consumers_;
  std::vector<DrainHook> drain_hooks_;
  std::vector<std::shared_ptr<void>> kept_;
  uv::Signal sigterm_;
  uv::Signal sigint_;
  uv::Timer housekeeping_;
  std::uint64_t ticks_ = 0;
  uv::Timer metrics_timer_;
  uv::Timer drain_deadline_;
  uv::Timer drain_start_;
  std::uint64_t last_tick_ms_ = 0;
  double last_loop_lag_seconds_ = 0;
  bool metrics_batch_outstanding_ = false;
  std::optional<int> exit_code_;
  std::chrono::steady_clock::time_point drain_deadline_at_;
  bool drain_finished_ = false;
};

Status RuntimeImpl::start() {
  // Topics first: while it waits for Kafka, the admin port is not bound rather than dead.
  if (auto status = ensureTopics(); !status) return status;
  if (auto status = startHttp(); !status) return status;
  health_.add("loop", [this] {
    if (last_loop_lag_seconds_ > 1.0) {
      return health::CheckResult{health::State::Degraded,
                                 fmt::format("Loop stalled {:.1f} s.", last_loop_lag_seconds_)};
    }
    return health::CheckResult{health::State::Healthy, "Loop responsive."};
  });
  auto producer = kafka::Producer::create(loop_, settings_.kafka, stage_metrics_, metrics_);
  if (!producer) return producer.status();
  producer_ = std::move(*producer);
  producer_->onFatal([this](Status status) { fail(status); });
  std::vector<std::string> catalogue;
  for (const auto& spec : kafka::allTopics(settings_.kafka, settings_.topic_sizing)) {
    catalogue.push_back(spec.name);
  }
  producer_->declareTopics(catalogue);
  health_.add("kafka_producer", [this] { return producer_->healthCheck(); });

  for (auto* signal : {&sigterm_, &sigint_}) {
    auto handle = uv::Signal::create(loop_);
    if (!handle) return handle.status();
    *signal = std::move(*handle);
  }
  auto on_signal = [this](int signum) {
    if (exit_code_) {
      log_.error("Second signal during the drain; exiting now.", {{"signal", signum}});
      log::flush();
      std::_Exit(kExitFatal);
    }
    log_.info("Signal received; draining.", {{"signal", signum}});
    beginDrain(kExitClean);
  };
  if (auto status = sigterm_.start(SIGTERM, on_signal); !status) return status;
  if (auto status = sigint_.start(SIGINT, on_signal); !status) return status;
  return startTimers();
}

Status RuntimeImpl::startHttp() {
  http::ServerOptions options;
  options.host = settings_.http_listen_address;
  options.port = settings_.http_port;
  http_ = std::make_unique<http::Server>(loop_, options);
  http_->setObserver([this](const http::Request&, int status, double seconds) {
    auto it = http_requests_.find(status);
    if (it == http_requests_.end()) {
      it = http_requests_
               .emplace(status, &metrics_.counter(metrics::names::kHttpRequests,
                                                  "HTTP requests answered, by status code.",
                                                  {{"status", std::to_string(status)}}))
               .first;
    }
    it->second->Increment();
    http_duration_.Observe(seconds);
  });
  http_->route("GET", "/metrics", [this](const http::Request&) {
    evaluateHealth();  // keeps point_tron_health_status current for every scrape
    http::Response response;
    response.status = 200;
    response.headers.set("Content-Type", std::string(metrics::kTextContentType));
    response.body = metrics_.serialize();
    return response;
  });
  http_->route("GET", "/health", [this](const http::Request&) {
    auto report = evaluateHealth();
    return http::Response::json(
        report.overall == health::State::Unhealthy ? 503 : 200,
        health::Registry::toJson(report, std::chrono::system_clock::now(),
                                 std::chrono::steady_clock::now() - started_));
  });
  http_->route("GET", "/health/live", [](const http::Request&) {
    return http::Response::json(200, R"({"success":true,"data":{"status":"live"}})");
  });
  http_->route("GET", "/health/ready", [this](const http::Request&) {
    auto report = evaluateHealth();
    return http::Response::json(
        report.ready ? 200 : 503,
        health::Registry::toJson(report, std::chrono::system_clock::now(),
                                 std::chrono::steady_clock::now() - started_));
  });
  if (auto status = http_->listen(); !status) return status;
  log_.info("Admin HTTP listening.",
            {{"address", settings_.http_listen_address}, {"port", http_->port()}});
  return Status::ok();
}

Status RuntimeImpl::startTimers() {
  auto housekeeping = uv::Timer::create(loop_);
  if (!housekeeping) return housekeeping.status();
  housekeeping_ = std::move(*housekeeping);
  last_tick_ms_ = uv_now(&loop_);
  constexpr std::uint64_t kTickMs = 1000;
  if (auto status = housekeeping_.start(kTickMs, kTickMs, [this] {
        const std::uint64_t now = uv_now(&loop_);
        const std::uint64_t late = now > last_tick_ms_ + kTickMs ? now - last_tick_ms_ - kTickMs : 0;
        last_tick_ms_ = now;
        last_loop_lag_seconds_ = static_cast<double>(late) / 1000.0;
        loop_lag_.Observe(last_loop_lag_seconds_);
        evaluateHealth();
        // glibc keeps freed heap memory mapped: after a catch-up the ~300 KB block buffers stay
        // resident (a fetcher that caught up 4,000 blocks kept 124 MB). Giving free pages back
        // every 10 s brings it to its working set; a fixed mmap threshold did too but doubled
        // the fetcher's CPU per block (docs/performance.md, "Memory after a catch-up").
        if (++ticks_ % 10 == 0) (void)malloc_trim(0);
      });
      !status) {
    return status;
  }
  housekeeping_.setReferenced(false);
  if (settings_.metrics_publish_interval_ms > 0) {
    auto timer = uv::Timer::create(loop_);
    if (!timer) return timer.status();
    metrics_timer_ = std::move(*timer);
    const auto interval = static_cast<std::uint64_t>(settings_.metrics_publish_interval_ms);
    if (auto status = metrics_timer_.start(interval, interval, [this] { publishMetrics(); });
        !status) {
      return status;
    }
    metrics_timer_.setReferenced(false);
  }
  return Status::ok();
}

Status RuntimeImpl::ensureTopics() {
  if (!settings_.create_topics) return Status::ok();
  // Kafka may start after us (compose, systemd): wait for it, saying so, within a bound.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  for (int attempt = 1;; ++attempt) {
    auto status = kafka::ensureTopics(settings_.kafka,
                                      kafka::allTopics(settings_.kafka, settings_.topic_sizing),
                                      std::chrono::seconds(10));
    if (status || status.error().type != ErrorType::Unavailable ||
        std::chrono::steady_clock::now() >= give_up) {
      return status;
    }
    log_.warn("Kafka not reachable yet; retrying.",
              {{"bootstrap_servers", settings_.kafka.bootstrap_servers},
               {"attempt", attempt},
               {"error", status.toString()}});
    std::this_thread::sleep_for(std::chrono::seconds(2));  // before the loop runs: nothing to serve
  }
}

Status RuntimeImpl::consume(ConsumeOptions options, kafka::Consumer::Handler handler) {
  kafka::ConsumerOptions consumer_options{
      .topics = std::move(options.topics),
      .group_id = options.group_id.empty() ? settings_.kafka.topic_prefix + stage_.name
                                           : std::move(options.group_id),
      .max_in_flight = options.max_in_flight,
      .on_assigned = std::move(options.on_assigned),
      .on_revoked = std::move(options.on_revoked),
      .metrics_client = consumers_.empty() ? std::string("consumer")
                                           : fmt::format("consumer-{}", consumers_.size())};
  auto consumer = kafka::Consumer::create(loop_, settings_.kafka, std::move(consumer_options),
                                          stage_metrics_, metrics_);
  if (!consumer) return consumer.status();
  (*consumer)->onFatal([this](Status status) { fail(status); });
  kafka::Consumer* raw = consumer->get();
  health_.add(fmt::format("kafka_consumer_{}", consumers_.size()),
              [raw] { return raw->healthCheck(); });
  // A handler that throws broke an invariant: the record is not finished (it comes again after
  // the restart that the orchestrator performs) and the process stops rather than loop on it.
  auto guarded = [this, handler = std::move(handler)](kafka::Record record,
                                                     kafka::Completion completion) {
    try {
      handler(std::move(record), std::move(completion));
    } catch (const std::exception& e) {
      stage_metrics_.bugs.Increment();
      fail(Status(ErrorType::Internal, fmt::format("handler threw: {}", e.what())));
    } catch (...) {
      stage_metrics_.bugs.Increment();
      fail(Status(ErrorType::Internal, "handler threw a non-standard exception"));
    }
  };
  if (auto status = (*consumer)->start(std::move(guarded)); !status) return status;
  consumers_.push_back(std::move(*consumer));
  return Status::ok();
}

health::Registry::Report RuntimeImpl::evaluateHealth() {
  auto report = health_.evaluate();
  stage_metrics_.health_status.Set(health::gaugeValue(report.overall));
  return report;
}

void RuntimeImpl::publishMetrics() {
  if (metrics_batch_outstanding_ || !producer_) return;  // broker slow or down: don't pile up
  metrics_batch_outstanding_ = true;
  producer_->send(
      kafka::Producer::Accounting::Telemetry,
      Event{.topic = settings_.kafka.topic(kafka::topics::kMetrics),
            .key = stage_.name + "/" + settings_.instance_id,
            .value = metricEventBatch(metrics_.collect(), stage_.name, settings_.instance_id,
                                      std::chrono::system_clock::now())},
      [this](const Status& status, const Delivery&) {
        metrics_batch_outstanding_ = false;
        if (status) {
          metric_events_.Increment();
        } else {
          log_.warnEvery("metric-events", {}, "Publishing metric events failed.",
                         {{"error", status.toString()}});
        }
      });
}

void RuntimeImpl::beginDrain(int exit_code) {
  if (exit_code_) {
    if (exit_code != kExitClean) exit_code_ = exit_code;  // a failure while draining wins
    return;
  }
  exit_code_ = exit_code;
  drain_deadline_at_ =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.drain_timeout_ms);
  health_.setDraining();
  metrics_timer_.close();
  auto deadline = uv::Timer::create(loop_);
  if (deadline) {
    drain_deadline_ = std::move(*deadline);
    (void)drain_deadline_.start(static_cast<std::uint64_t>(settings_.drain_timeout_ms), 0, [this] {
      log_.error("Drain deadline passed; stopping with work left.",
                 {{"drain_timeout_ms", settings_.drain_timeout_ms}});
      if (exit_code_ == kExitClean) exit_code_ = kExitFatal;
      finishDrain();
    });
  }
  // The consumers close on the next loop turn, not here: stop() and fail() may be called from
  // inside a consumer's own callbacks (a record handler, an assignment), which must not find it
  // closed under them.
  auto start = uv::Timer::create(loop_);
  if (!start) {
    drainConsumers(0);
    return;
  }
  drain_start_ = std::move(*start);
  if (!drain_start_.start(0, 0, [this] { drainConsumers(0); })) drainConsumers(0);
}

void RuntimeImpl::drainConsumers(std::size_t index) {
  if (drain_finished_) return;
  if (index >= consumers_.size()) {
    runDrainHooks(0);
    return;
  }
  // Consumers close one after another, each within what is left of the drain deadline.
  consumers_[index]->close(drainTimeLeft(),
                           [this, index](Status status) {
                             if (!status) {
                               log_.warn("Consumer closed with records unfinished.",
                                         {{"error", status.toString()}});
                             }
                             drainConsumers(index + 1);
                           });
}

void RuntimeImpl::runDrainHooks(std::size_t index) {
  if (drain_finished_) return;
  if (index >= drain_hooks_.size()) {
    flushProducer();
    return;
  }
  drain_hooks_[index]([this, index] { runDrainHooks(index + 1); });
}

void RuntimeImpl::flushProducer() {
  if (drain_finished_) return;
  if (!producer_) {
    finishDrain();
    return;
  }
  producer_->flush(drainTimeLeft(), [this](Status status) {
    if (!status) {
      log_.error("Producer flush incomplete.", {{"error", status.toString()}});
      if (exit_code_ == kExitClean) exit_code_ = kExitFatal;
    }
    finishDrain();
  });
}

std::chrono::milliseconds RuntimeImpl::drainTimeLeft() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      drain_deadline_at_ - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

void RuntimeImpl::finishDrain() {
  if (drain_finished_) return;
  drain_finished_ = true;
  drain_deadline_.close();
  if (!http_) {
    uv_stop(&loop_);
    return;
  }
  http_->stop([this] { uv_stop(&loop_); });
}

int RuntimeImpl::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Stage objects go first: they hold references into the runtime's parts.
  kept_.clear();
  drain_hooks_.clear();
  consumers_.clear();
  producer_.reset();
  http_.reset();
  return exit_code_.value_or(kExitClean);
}

}  // namespace

int runStage(int argc, char** argv, const StageDefinition& stage, const StageSetup& setup) {
  // libuv writes to sockets with write(2), which raises SIGPIPE when the peer is gone (a write
  // after it reset, for one); the default action would kill the process over one lost client.
  // Ignored, that write fails with EPIPE and only its connection ends.
  std::signal(SIGPIPE, SIG_IGN);
  Arguments arguments;
  if (auto exit_code = parseArguments(argc, argv, stage, arguments)) return *exit_code;
  log::Logger log(stage.name);
  (void)log::init({.service = stage.name});
  auto stop_with = [&](int exit_code, const Status& status, std::string_view what) {
    log.error(what, {{"error", status.toString()}});
    log::flush();
    return exit_code;
  };

  auto config = config::ConfigSource::loadFromProcess(arguments.config_path);
  if (!config) return stop_with(kExitConfig, config.status(), "Invalid configuration.");
  auto log_options = log::LogOptions::fromConfig(*config, stage.name);
  if (!log_options) return stop_with(kExitConfig, log_options.status(), "Invalid configuration.");
  if (auto status = log::init(*log_options); !status) {
    return stop_with(kExitConfig, status, "Invalid configuration.");
  }
  auto settings = RuntimeConfig::parse(*config, stage);
  if (!settings) return stop_with(kExitConfig, settings.status(), "Invalid configuration.");
  if (arguments.print_config) {
    // Runtime keys are read; stage keys are listed as they are set.
    std::printf("%s\n", config->describe().c_str());
    return kExitClean;
  }

  uv_loop_t loop;
  if (int rc = uv_loop_init(&loop); rc != 0) {
    return stop_with(kExitFatal, uv::check(rc, "uv_loop_init"), "Cannot start.");
  }
  int exit_code = kExitClean;
  {
    RuntimeImpl runtime(loop, stage, std::move(*config), std::move(*settings));
    if (auto status = runtime.start(); !status) {
      exit_code = status.error().type == ErrorType::InvalidConfig ? kExitConfig : kExitFatal;
      log.error("Cannot start.", {{"error", status.toString()}});
      runtime.stop();
    } else if (auto setup_status = setup(runtime); !setup_status) {
      exit_code = setup_status.error().type == ErrorType::InvalidConfig ? kExitConfig : kExitFatal;
      log.error(exit_code == kExitConfig ? "Invalid configuration." : "Stage setup failed.",
                {{"error", setup_status.toString()}});
      runtime.stop();
    } else if (auto unknown = checkUnknownKeys(runtime.config(), stage.name); !unknown) {
      exit_code = kExitConfig;
      log.error("Invalid configuration.", {{"error", unknown.toString()}});
      runtime.stop();
    } else {
      log.info("Stage started.", {{"version", POINTTRON_VERSION},
                                  {"instance", runtime.settings().instance_id},
                                  {"config", runtime.config().describe()}});
    }
    const int run_code = runtime.run();
    if (exit_code == kExitClean) exit_code = run_code;
  }
  if (auto status = uv::closeLoop(loop); !status) {
    log.error("Closing the loop failed.", {{"error", status.toString()}});
  }
  log.info("Stage stopped.", {{"exit_code", exit_code}});
  log::flush();
  return exit_code;
}

}  // namespace pipeline
