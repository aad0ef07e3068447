#include "pipeline/kafka/consumer.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/log/logging.h"
#include "pipeline/metrics/names.h"

namespace pipeline::kafka {

static_assert(TopicPartition::kOffsetStored == RD_KAFKA_OFFSET_STORED);
static_assert(TopicPartition::kOffsetBeginning == RD_KAFKA_OFFSET_BEGINNING);

// Bookkeeping of one assigned partition. Completions hold it weakly, so finishing a record of a
// revoked partition (state destroyed) does nothing.
struct PartitionState {
  Consumer* owner = nullptr;
  std::string topic;
  std::int32_t partition = 0;
  std::map<std::int64_t, bool> in_flight;  // offset -> finished
  std::optional<std::int64_t> rewind_to;   // a retry is pending from this offset
  int retry_attempts = 0;
  bool paused = false;
  uv::Timer retry_timer;
};

namespace {

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

ListPtr single(const PartitionState& state, std::int64_t offset = RD_KAFKA_OFFSET_INVALID) {
  ListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), state.topic.c_str(), state.partition)->offset =
      offset;
  return list;
}

std::vector<TopicPartition> toVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

const log::Logger& logger() {
  static const log::Logger instance("kafka_consumer", std::make_shared<log::RateLimiter>());
  return instance;
}

// These failures can repeat per record; the message is the rate-limit key.
void logError(std::string_view message, rd_kafka_resp_err_t err) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    logger().warnEvery(message, {}, message, {{"error", rd_kafka_err2str(err)}});
  }
}

void logError(std::string_view message, rd_kafka_error_t* error) {
  if (error != nullptr) {
    logger().warnEvery(message, {}, message, {{"error", rd_kafka_error_string(error)}});
    rd_kafka_error_destroy(error);
  }
}

}  // namespace

Completion& Completion::operator=(Completion&& other) noexcept {
  if (this != &other) {
    if (!partition_.expired()) finish(Outcome::Retry);
    partition_ = std::move(other.partition_);
    offset_ = other.offset_;
    started_ = other.started_;
  }
  return *this;
}

Completion::~Completion() {
  if (!partition_.expired()) finish(Outcome::Retry);
}

void Completion::finish(Outcome outcome) {
  auto partition = partition_.lock();
  partition_.reset();
  if (partition) partition->owner->finish(*partition, offset_, outcome, started_);
}

void Consumer::KafkaDeleter::operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }

Consumer::Consumer(uv_loop_t& loop, ConsumerOptions options, StageMetrics& stage_metrics,
                   metrics::Registry& registry)
    : loop_(loop),
      options_(std::move(options)),
      stage_metrics_(stage_metrics),
      client_metrics_(registry, options_.metrics_client),
      rebalances_(registry.counter(metrics::names::kKafkaRebalances,
                                   "Partition assignments and revocations.",
                                   {{"client", options_.metrics_client}})),
      assigned_gauge_(registry.gauge(metrics::names::kKafkaAssignedPartitions,
                                     "Partitions currently assigned to this consumer.",
                                     {{"client", options_.metrics_client}})) {}

Result<std::unique_ptr<Consumer>> Consumer::create(uv_loop_t& loop, const KafkaConfig& config,
                                                   ConsumerOptions options,
                                                   StageMetrics& stage_metrics,
                                                   metrics::Registry& registry) {
  if (options.topics.empty()) return Error{ErrorType::InvalidConfig, "consumer: no topics"};
  if (options.group_id.empty()) return Error{ErrorType::InvalidConfig, "consumer: no group id"};
  if (options.max_in_flight == 0) {
    return Error{ErrorType::InvalidConfig, "consumer: max_in_flight must be > 0"};
  }
  std::unique_ptr<Consumer> self(
      new Consumer(loop, std::move(options), stage_metrics, registry));
  auto conf = makeConf(config,
                       {
                           {"client.id", config.client_id + "-consumer"},
                           {"auto.offset.reset", self->options_.auto_offset_reset},
                           // Short, so a crash re-delivers little; every commit is confirmed
                           // through on_committed.
                           {"auto.commit.interval.ms", "1000"},
                           // A crashed member's partitions wait this long for its successor
                           // (librdkafka's default is 45 s). Heartbeats come from librdkafka's
                           // own thread, so a busy loop does not trip it.
                           {"session.timeout.ms", "10000"},
                       },
                       {
                           {"group.id", self->options_.group_id},
                           {"enable.auto.commit", "true"},
                           {"enable.auto.offset.store", "false"},
                           {"enable.partition.eof", "false"},
                       });
  if (!conf) return conf.error();
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  rd_kafka_conf_set_rebalance_cb(
      conf->get(), [](rd_kafka_t* rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t* partitions, void* opaque) {
        onRebalance(rk, err, partitions, opaque);
      });
  rd_kafka_conf_set_offset_commit_cb(
      conf->get(), [](rd_kafka_t* rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t* offsets, void* opaque) {
        onCommit(rk, err, offsets, opaque);
      });
  rd_kafka_conf_set_error_cb(conf->get(), &Consumer::onError);
  rd_kafka_conf_set_stats_cb(conf->get(), &Consumer::onStatistics);
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (rk == nullptr) return Error{ErrorType::InvalidConfig, fmt::format("kafka consumer: {}", error)};
  (void)conf->release();
  self->rk_.reset(rk);
  // One queue for records, rebalances, errors, commits and statistics, served on the loop.
  rd_kafka_poll_set_consumer(rk);

  auto deadline = uv::Timer::create(loop);
  if (!deadline) return deadline.error();
  self->close_deadline_ = std::move(*deadline);
  auto notify = uv::Idle::create(loop);
  if (!notify) return notify.error();
  self->close_notify_ = std::move(*notify);
  return self;
}

Consumer::~Consumer() {
  queue_.reset();
  partitions_.clear();
  // rd_kafka_destroy of an unclosed consumer leaves the group itself (blocking, bounded).
}

Status Consumer::start(Handler handler) {
  handler_ = std::move(handler);
  ListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
  for (const auto& topic : options_.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto err = rd_kafka_subscribe(rk_.get(), topics.get()); err) {
    return Status(ErrorType::Kafka, fmt::format("subscribe: {}", rd_kafka_err2str(err)));
  }
  rd_kafka_queue_t* consumer_queue = rd_kafka_queue_get_consumer(rk_.get());
  auto queue = LoopQueue::create(loop_, consumer_queue, [this] { return serveOne(); });
  if (!queue) return queue.status();
  queue_ = std::move(*queue);
  return Status::ok();
}

bool Consumer::serveOne() noexcept {
  rd_kafka_message_t* message = rd_kafka_consumer_poll(rk_.get(), 0);
  if (message == nullptr) {
    checkClosing();
    return false;
  }
  // A fatal error (e.g. a static member fenced by its successor) also arrives as a message; a
  // consumer that counted it as a receive error would stay "healthy" and never read again.
  if (message->err == RD_KAFKA_RESP_ERR__FATAL) {
    rd_kafka_message_destroy(message);
    failFatally();
    return false;
  }
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    stage_metrics_.error(ErrorType::Kafka, Phase::Receiving).Increment();
    last_error_ = rd_kafka_message_errstr(message);
    rd_kafka_message_destroy(message);
    return true;
  }
  deliver(message);
  return true;
}

void Consumer::deliver(rd_kafka_message_t* message) noexcept {
  auto it = partitions_.find({rd_kafka_topic_name(message->rkt), message->partition});
  // Not delivered: records of a partition no longer ours, records after close() began, records
  // behind a pending retry (they come again after the seek), and duplicates of in-flight ones.
  if (it == partitions_.end() || close_state_ != CloseState::Open ||
      (it->second->rewind_to && message->offset >= *it->second->rewind_to) ||
      it->second->in_flight.contains(message->offset)) {
    rd_kafka_message_destroy(message);
    return;
  }
  brokers_down_ = false;  // a record arrived: a broker answers
  PartitionState& partition = *it->second;
  partition.in_flight.emplace(message->offset, false);
  ++in_flight_;
  stage_metrics_.in_flight.Increment();
  stage_metrics_.received.Increment();
  stage_metrics_.received_bytes.Increment(static_cast<double>(message->len));
  Completion completion(it->second, message->offset, std::chrono::steady_clock::now());
  handler_(Record::adopt(message), std::move(completion));
  updateBackpressure();
}

void Consumer::finish(PartitionState& partition, std::int64_t offset, Outcome outcome,
                      std::chrono::steady_clock::time_point started) noexcept {
  auto entry = partition.in_flight.find(offset);
  if (entry == partition.in_flight.end() || entry->second) return;  // rewound or finished
  stage_metrics_.processing_duration.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (outcome == Outcome::Retry) {
    scheduleRetry(partition, offset);
    return;
  }
  entry->second = true;
  --in_flight_;
  stage_metrics_.in_flight.Decrement();
  partition.retry_attempts = 0;
  std::int64_t next = -1;
  while (!partition.in_flight.empty() && partition.in_flight.begin()->second) {
    next = partition.in_flight.begin()->first + 1;
    partition.in_flight.erase(partition.in_flight.begin());
  }
  if (next >= 0) {
    logError("Storing the consumed offset failed.",
             rd_kafka_offsets_store(rk_.get(), single(partition, next).get()));
  }
  updateBackpressure();
  checkClosing();
}

void Consumer::scheduleRetry(PartitionState& partition, std::int64_t offset) noexcept {
  if (!partition.rewind_to || offset < *partition.rewind_to) partition.rewind_to = offset;
  // Everything from the failed record on is re-delivered after the seek.
  for (auto it = partition.in_flight.lower_bound(offset); it != partition.in_flight.end();) {
    if (!it->second) {
      --in_flight_;
      stage_metrics_.in_flight.Decrement();
    }
    it = partition.in_flight.erase(it);
  }
  updatePause(partition);
  if (partition.retry_timer.valid()) return;  // a rewind is already scheduled
  auto timer = uv::Timer::create(loop_);
  if (!timer) {
    rewind(partition);
    return;
  }
  partition.retry_timer = std::move(*timer);
  const auto shift = std::min(partition.retry_attempts, 20);
  ++partition.retry_attempts;
  const auto backoff = std::min(options_.retry_initial_backoff * (std::int64_t{1} << shift),
                                std::chrono::duration_cast<std::chrono::milliseconds>(
                                    options_.retry_max_backoff));
  PartitionState* raw = &partition;
  (void)partition.retry_timer.start(static_cast<std::uint64_t>(backoff.count()), 0,
                                    [this, raw] { rewind(*raw); });
  updateBackpressure();
  checkClosing();
}

void Consumer::rewind(PartitionState& partition) noexcept {
  partition.retry_timer.close();
  if (!partition.rewind_to) return;
  const std::int64_t offset = *partition.rewind_to;
  logError("Seeking back for a retry failed.",
           rd_kafka_seek_partitions(rk_.get(), single(partition, offset).get(), 0));
  partition.rewind_to.reset();
  updatePause(partition);
}

void Consumer::updatePause(PartitionState& partition) noexcept {
  const bool want_paused = backpressure_ || partition.rewind_to.has_value();
  if (want_paused == partition.paused) return;
  partition.paused = want_paused;
  auto list = single(partition);
  logError(want_paused ? "Pausing a partition failed." : "Resuming a partition failed.",
           want_paused ? rd_kafka_pause_partitions(rk_.get(), list.get())
                       : rd_kafka_resume_partitions(rk_.get(), list.get()));
}

void Consumer::updateBackpressure() noexcept {
  const bool was = backpressure_;
  if (!backpressure_ && in_flight_ >= options_.max_in_flight) backpressure_ = true;
  if (backpressure_ && in_flight_ <= options_.max_in_flight / 2) backpressure_ = false;
  if (was == backpressure_) return;
  for (auto& [key, partition] : partitions_) updatePause(*partition);
}

void Consumer::assign(rd_kafka_topic_partition_list_t* partitions) noexcept {
  std::vector<TopicPartition> assigned = toVector(partitions);
  if (options_.on_assigned) options_.on_assigned(assigned);
  for (std::size_t i = 0; i < assigned.size(); ++i) {
    partitions->elems[i].offset = assigned[i].offset;
    auto state = std::make_shared<PartitionState>();
    state->owner = this;
    state->topic = assigned[i].topic;
    state->partition = assigned[i].partition;
    partitions_[{state->topic, state->partition}] = std::move(state);
  }
  if (std::string_view(rd_kafka_rebalance_protocol(rk_.get())) == "COOPERATIVE") {
    logError("Incremental assign failed.", rd_kafka_incremental_assign(rk_.get(), partitions));
  } else {
    logError("Assign failed.", rd_kafka_assign(rk_.get(), partitions));
  }
  for (auto& [key, partition] : partitions_) updatePause(*partition);
  assigned_gauge_.Set(static_cast<double>(partitions_.size()));
  logger().info("Partitions assigned.",
                {{"count", partitions->cnt}, {"total", partitions_.size()}});
}

void Consumer::revoke(rd_kafka_topic_partition_list_t* partitions) noexcept {
  if (options_.on_revoked) options_.on_revoked(toVector(partitions));
  // Offsets stored for finished records are committed before the partitions move on, so the
  // next owner starts right after them.
  rd_kafka_resp_err_t commit_err = rd_kafka_commit(rk_.get(), nullptr, 1);
  if (commit_err != RD_KAFKA_RESP_ERR__NO_OFFSET) logError("Commit on revoke failed.", commit_err);
  for (int i = 0; i < partitions->cnt; ++i) {
    auto it = partitions_.find({partitions->elems[i].topic, partitions->elems[i].partition});
    if (it == partitions_.end()) continue;
    for (const auto& [offset, finished] : it->second->in_flight) {
      if (!finished) {
        --in_flight_;
        stage_metrics_.in_flight.Decrement();
      }
    }
    partitions_.erase(it);
  }
  if (std::string_view(rd_kafka_rebalance_protocol(rk_.get())) == "COOPERATIVE") {
    logError("Incremental unassign failed.", rd_kafka_incremental_unassign(rk_.get(), partitions));
  } else {
    logError("Unassign failed.", rd_kafka_assign(rk_.get(), nullptr));
  }
  assigned_gauge_.Set(static_cast<double>(partitions_.size()));
  updateBackpressure();
  logger().info("Partitions revoked.",
                {{"count", partitions->cnt}, {"remaining", partitions_.size()}});
}

void Consumer::onRebalance(rd_kafka_t*, int error, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  self->rebalances_.Increment();
  switch (static_cast<rd_kafka_resp_err_t>(error)) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: self->assign(partitions); break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: self->revoke(partitions); break;
    default:
      logger().error("Rebalance failed.",
                     {{"error", rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(error))}});
      self->revoke(partitions);
  }
}

void Consumer::onCommit(rd_kafka_t*, int error, rd_kafka_topic_partition_list_t* offsets,
                        void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  const auto err = static_cast<rd_kafka_resp_err_t>(error);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing new to commit
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->stage_metrics_.error(ErrorType::Kafka, Phase::Receiving).Increment();
    self->last_error_ = fmt::format("offset commit: {}", rd_kafka_err2str(err));
    return;
  }
  self->brokers_down_ = false;
  if (!self->options_.on_committed || offsets == nullptr) return;
  for (int i = 0; i < offsets->cnt; ++i) {
    const auto& tp = offsets->elems[i];
    if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0) {
      self->options_.on_committed(tp.topic, tp.partition, tp.offset);
    }
  }
}

void Consumer::failFatally() noexcept {
  if (fatal_) return;  // reported once, whether the error callback or a message came first
  Status status = fatalError(rk_.get(), "consumer");
  fatal_ = status;
  if (on_fatal_) on_fatal_(status);
}

void Consumer::onError(rd_kafka_t*, int error, const char* reason, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  const auto err = static_cast<rd_kafka_resp_err_t>(error);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    self->failFatally();
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->brokers_down_ = true;
  self->last_error_ = reason;
}

int Consumer::onStatistics(rd_kafka_t*, char* json, size_t length, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  auto statistics = self->client_metrics_.update(std::string_view(json, length));
  if (statistics && statistics->brokers_up > 0) self->brokers_down_ = false;
  return 0;
}

health::CheckResult Consumer::healthCheck() const {
  if (fatal_) return {health::State::Unhealthy, fatal_->error().message};
  if (brokers_down_) {
    return {health::State::Unhealthy, fmt::format("No Kafka broker reachable: {}", last_error_)};
  }
  return {health::State::Healthy,
          fmt::format("{} partitions assigned, {} records in flight.", partitions_.size(),
                      in_flight_)};
}

void Consumer::close(std::chrono::milliseconds deadline, std::function<void(Status)> on_closed) {
  on_closed_ = std::move(on_closed);
  if (close_state_ != CloseState::Open) return;
  close_state_ = CloseState::Draining;
  if (!queue_) {  // never started: nothing to leave
    close_state_ = CloseState::Leaving;
  }
  (void)close_deadline_.start(static_cast<std::uint64_t>(deadline.count()), 0, [this] {
    if (close_state_ == CloseState::Draining) {
      close_status_ = Status(ErrorType::Timeout,
                             fmt::format("{} records still in flight at the close deadline; they "
                                         "will be re-delivered",
                                         in_flight_));
      abandon_in_flight_ = true;
      checkClosing();
    }
  });
  checkClosing();
}

void Consumer::checkClosing() noexcept {
  if (close_state_ == CloseState::Draining) {
    // Records waiting for a retry are not in flight: they are re-delivered after the restart.
    if (in_flight_ > 0 && !abandon_in_flight_) return;
    close_state_ = CloseState::Leaving;
    if (queue_) {
      rd_kafka_queue_t* consumer_queue = rd_kafka_queue_get_consumer(rk_.get());
      logError("Closing the consumer failed.",
               rd_kafka_consumer_close_queue(rk_.get(), consumer_queue));
      rd_kafka_queue_destroy(consumer_queue);
      queue_->serve();
      return;  // serveOne() calls back here until librdkafka reports the consumer closed
    }
  }
  if (close_state_ == CloseState::Leaving &&
      (!queue_ || rd_kafka_consumer_closed(rk_.get()) != 0)) {
    close_state_ = CloseState::Closed;
    close_deadline_.stop();
    // Report from a fresh loop turn: the caller may destroy the consumer in the callback, which
    // must not happen inside serveOne().
    (void)close_notify_.start([this] {
      close_notify_.stop();
      queue_.reset();
      if (on_closed_) {
        auto done = std::move(on_closed_);
        on_closed_ = nullptr;
        done(close_status_);
      }
    });
  }
}

}  // namespace pipeline::kafka
