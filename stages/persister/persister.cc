#include "stages/persister/persister.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "pipeline/clock.h"

namespace stages::persister {
namespace {


// Creates `dir` (and its parents) if missing; a new data directory is private to the owner.
pipeline::Status ensureDirectory(const std::filesystem::path& dir) {
  if (dir.empty()) return pipeline::Status::ok();
  std::error_code error;
  const bool created = std::filesystem::create_directories(dir, error);
  if (error) {
    return pipeline::Status(pipeline::ErrorType::Io,
                            fmt::format("creating {}: {}", dir.string(), error.message()));
  }
  if (created && ::chmod(dir.c_str(), 0700) != 0) {
    return pipeline::Status(pipeline::ErrorType::Io, fmt::format("chmod 0700 {} failed", dir.string()));
  }
  return pipeline::Status::ok();
}

}  // namespace

Persister::Persister(pipeline::Runtime& rt, PersisterConfig config)
    : rt_(rt), config_(std::move(config)), metrics_(PersisterMetrics::create(rt.metrics())) {}

pipeline::Result<std::shared_ptr<Persister>> Persister::create(pipeline::Runtime& rt,
                                                               PersisterConfig config) {
  std::shared_ptr<Persister> self(new Persister(rt, std::move(config)));
  const PersisterConfig& cfg = self->config_;
  if (auto made = ensureDirectory(cfg.data_dir); !made) return made;
  if (auto made = ensureDirectory(std::filesystem::path(cfg.db_path).parent_path()); !made) return made;

  auto store = SqliteStore::open({.path = cfg.db_path,
                                  .busy_timeout_ms = cfg.busy_timeout_ms,
                                  .block_retention_days = cfg.block_retention_days});
  if (!store) return store.error();
  self->store_ = std::move(*store);
  auto queries = SqliteQueries::open(cfg.db_path, cfg.busy_timeout_ms);
  if (!queries) return queries.error();
  self->queries_ = std::move(*queries);
  rt.log().info("Database open.", {{"path", cfg.db_path},
                                   {"schema_version", self->store_->schemaVersion()}});

  auto tokens = resolveApiTokens(cfg.api_tokens, cfg.data_dir);
  if (!tokens) return tokens.error();
  if (!tokens->file.empty()) {
    // The path only, never the token: whoever may read the file may use the API.
    rt.log().info(tokens->generated ? "API token generated; no persister.api_tokens configured."
                                    : "API token read from its file.",
                  {{"token_file", tokens->file}});
  }

  for (auto* timer : {&self->batch_timer_, &self->gauge_timer_}) {
    auto created = pipeline::uv::Timer::create(rt.loop());
    if (!created) return created.error();
    *timer = std::move(*created);
  }

  Persister* raw = self.get();
  self->writer_ = std::make_unique<BatchWriter>(
      *self->store_,
      PersisterTopics{.blocks = rt.topic(pipeline::kafka::topics::kBlocks),
                      .stats = rt.topic(pipeline::kafka::topics::kStats),
                      .metrics = rt.topic(pipeline::kafka::topics::kMetrics),
                      .dlq = rt.topic(pipeline::kafka::topics::kDlq)},
      rt.sink(), self->metrics_, rt.stageMetrics(), rt.log(),
      [raw](const pipeline::Status& status) { raw->rt_.fail(status); });
  self->api_ = std::make_unique<QueryApi>(*self->queries_, TokenAuthenticator(tokens->tokens),
                                          self->metrics_, pipeline::wallClockMs,
                                          [raw] { return raw->writer_->health(); },
                                          cfg.api_answer_cache_ms);
  const pipeline::kafka::KafkaConfig kafka = rt.settings().kafka;
  self->writer_->checkOffsetsWith([kafka](const std::string& topic) {
    return pipeline::kafka::offsetRanges(kafka, topic, std::chrono::seconds(5));
  });
  auto backups = backup::BackupService::create(rt, cfg.backup, cfg.backup.plan(cfg.db_path, cfg.busy_timeout_ms),
                                               *self->store_, *self->queries_, pipeline::wallClockMs);
  if (!backups) return backups.error();
  self->backups_ = std::move(*backups);
  return self;
}

pipeline::Status Persister::start() {
  rt_.health().add("sqlite", [this] { return writer_->health(); });
  rt_.http().routePrefix("GET", "/api/", [this](const pipeline::http::Request& request) {
    return api_->handle(request);
  });
  rt_.http().route("POST", "/api/backups", [this](const pipeline::http::Request& request) {
    if (auto refused = api_->refuse(request)) return std::move(*refused);
    return backups_->handleStart();
  });
  rt_.http().route("GET", "/api/backups", [this](const pipeline::http::Request& request) {
    if (auto refused = api_->refuse(request)) return std::move(*refused);
    return backups_->handleStatus();
  });
  if (auto started = backups_->start(); !started) return started;
  updateGauges();
  if (auto started = gauge_timer_.start(kGaugeIntervalMs, kGaugeIntervalMs, [this] { updateGauges(); });
      !started) {
    return started;
  }
  rt_.onDrain([this](std::function<void()> done) {
    gauge_timer_.stop();
    done();
  });
  return rt_.consume(
      {.topics = {rt_.topic(pipeline::kafka::topics::kBlocks),
                  rt_.topic(pipeline::kafka::topics::kStats),
                  rt_.topic(pipeline::kafka::topics::kMetrics)},
       .max_in_flight = 2 * config_.batch_max_records,
       .on_assigned = [this](std::vector<pipeline::kafka::TopicPartition>& partitions) {
         writer_->assign(partitions);
       },
       // What is collected is written before the partitions go, so the next owner starts after it.
       .on_revoked = [this](const std::vector<pipeline::kafka::TopicPartition>&) { flush(); }},
      [this](pipeline::kafka::Record record, pipeline::kafka::Completion completion) {
        auto pending = pipeline::kafka::Completion::share(std::move(completion));
        add(record, [pending](pipeline::Outcome outcome) { pending->finish(outcome); });
      });
}

void Persister::updateGauges() {
  const auto health = writer_->health();
  metrics_.database_healthy.Set(health.state == pipeline::health::State::Healthy    ? 1.0
                                : health.state == pipeline::health::State::Degraded ? 0.5
                                                                                    : 0.0);
  struct statvfs fs {};
  const auto dir = std::filesystem::path(config_.db_path).parent_path();
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0 && fs.f_blocks > 0) {
    metrics_.disk_free_bytes.Set(static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize));
    metrics_.disk_free_ratio.Set(static_cast<double>(fs.f_bavail) / static_cast<double>(fs.f_blocks));
  }
}

void Persister::add(const pipeline::kafka::Record& record, BatchWriter::Finish finish) {
  writer_->add(record, std::move(finish));
  if (writer_->size() >= config_.batch_max_records) {
    flush();
    return;
  }
  if (!timer_armed_ && !writer_->empty()) {
    timer_armed_ = true;
    auto armed = batch_timer_.start(static_cast<std::uint64_t>(config_.batch_max_delay_ms), 0,
                                    [this] { flush(); });
    if (!armed) rt_.fail(armed);  // without the timer a partial batch would never be written
  }
}

void Persister::flush() {
  batch_timer_.stop();
  timer_armed_ = false;
  writer_->flush();
}

}  // namespace stages::persister
