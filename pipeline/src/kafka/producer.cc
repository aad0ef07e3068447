#include "pipeline/kafka/producer.h"

#include <librdkafka/rdkafka.h>

#include <fmt/format.h>

#include "pipeline/metrics/names.h"

namespace pipeline::kafka {

struct Producer::Pending {
  Event event;
  DeliveryCallback callback;
  Accounting accounting = Accounting::StageOutput;
};

void Producer::KafkaDeleter::operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }

Producer::Producer(uv_loop_t& loop, StageMetrics& stage_metrics, metrics::Registry& registry)
    : loop_(loop),
      stage_metrics_(stage_metrics),
      client_metrics_(registry, "producer"),
      delivery_errors_(registry.counter(metrics::names::kKafkaDeliveryErrors,
                                        "Produced events the broker did not acknowledge.")) {}

Result<std::unique_ptr<Producer>> Producer::create(uv_loop_t& loop, const KafkaConfig& config,
                                                   StageMetrics& stage_metrics,
                                                   metrics::Registry& registry) {
  std::unique_ptr<Producer> self(new Producer(loop, stage_metrics, registry));
  auto conf = makeConf(config,
                       {
                           // The Java client's partitioner, so outside consumers and producers
                           // agree on which partition a key lives in.
                           {"partitioner", "murmur2_random"},
                           {"linger.ms", "5"},
                           // Block JSON shrinks about 3x (docs/performance.md): the broker writes
                           // and serves a third of the bytes for little client CPU.
                           {"compression.type", "lz4"},
                           {"client.id", config.client_id + "-producer"},
                       },
                       {
                           {"enable.idempotence", "true"},
                           {"message.timeout.ms", std::to_string(config.message_timeout_ms)},
                       });
  if (!conf) return conf.error();
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::onDelivery);
  rd_kafka_conf_set_error_cb(conf->get(), &Producer::onError);
  rd_kafka_conf_set_stats_cb(conf->get(), &Producer::onStatistics);
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error, sizeof(error));
  if (rk == nullptr) return Error{ErrorType::InvalidConfig, fmt::format("kafka producer: {}", error)};
  (void)conf->release();  // rd_kafka_new took ownership
  self->rk_.reset(rk);

  auto deferred = uv::Idle::create(loop);
  if (!deferred) return deferred.error();
  self->deferred_ = std::move(*deferred);
  auto flush_deadline = uv::Timer::create(loop);
  if (!flush_deadline) return flush_deadline.error();
  self->flush_deadline_ = std::move(*flush_deadline);

  rd_kafka_queue_t* main_queue = rd_kafka_queue_get_main(rk);
  Producer* raw = self.get();
  auto queue = LoopQueue::create(loop, main_queue, [raw] {
    const bool served = rd_kafka_poll(raw->rk_.get(), 0) > 0;
    if (!served) raw->drainBacklog();
    return served;
  });
  if (!queue) return queue.error();
  self->queue_ = std::move(*queue);
  return self;
}

Producer::~Producer() {
  if (rk_ == nullptr) return;
  queue_.reset();
  // Purge what the broker never acknowledged and serve the reports, so every callback runs.
  rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  while (rd_kafka_poll(rk_.get(), 0) > 0) {
  }
  for (auto& pending : backlog_) {
    if (pending->callback) {
      pending->callback(Status(ErrorType::Unavailable, "producer closed before sending"), {});
    }
  }
  for (auto& [pending, status] : failed_) {
    if (pending->callback) pending->callback(status, {});
  }
}

void Producer::declareTopics(const std::vector<std::string>& topics) {
  for (const auto& topic : topics) {
    rd_kafka_topic_destroy(rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr));
  }
}

void Producer::send(Event event, DeliveryCallback on_delivery) {
  send(Accounting::StageOutput, std::move(event), std::move(on_delivery));
}

void Producer::send(Accounting accounting, Event event, DeliveryCallback on_delivery) {
  auto pending =
      std::make_unique<Pending>(Pending{std::move(event), std::move(on_delivery), accounting});
  ++outstanding_;
  if (!backlog_.empty() || !produce(pending)) backlog_.push_back(std::move(pending));
}

bool Producer::produce(std::unique_ptr<Pending>& pending) {
  Event& event = pending->event;
  rd_kafka_headers_t* headers = nullptr;
  if (!event.headers.empty()) {
    headers = rd_kafka_headers_new(event.headers.size());
    for (const auto& [name, value] : event.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  // No copy flag: librdkafka references the Pending's buffers until the delivery report. A null
  // payload pointer is what librdkafka writes as a null value (an empty string's data() is not).
  void* payload = event.tombstone ? nullptr : event.value.data();
  const std::size_t payload_size = event.tombstone ? 0 : event.value.size();
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_.get(), RD_KAFKA_V_TOPIC(event.topic.c_str()),
      RD_KAFKA_V_PARTITION(event.partition.value_or(RD_KAFKA_PARTITION_UA)),
      RD_KAFKA_V_KEY(event.key.data(), event.key.size()),
      RD_KAFKA_V_VALUE(payload, payload_size), RD_KAFKA_V_MSGFLAGS(0),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    (void)pending.release();  // owned by librdkafka until onDelivery
    return true;
  }
  if (headers != nullptr) rd_kafka_headers_destroy(headers);
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return false;
  Status status(ErrorType::Kafka, fmt::format("produce to {}: {}", event.topic, rd_kafka_err2str(err)));
  failed_.emplace_back(std::move(pending), std::move(status));
  if (!deferred_.active()) {
    (void)deferred_.start([this] {
      deferred_.stop();
      auto failed = std::move(failed_);
      failed_.clear();
      for (auto& [item, item_status] : failed) complete(std::move(item), item_status, {});
    });
  }
  return true;
}

void Producer::drainBacklog() noexcept {
  while (!backlog_.empty()) {
    if (!produce(backlog_.front())) return;
    backlog_.pop_front();
  }
}

void Producer::complete(std::unique_ptr<Pending> pending, const Status& status,
                        const Delivery& delivery) {
  --outstanding_;
  if (status) {
    if (pending->accounting == Accounting::StageOutput) {
      stage_metrics_.sent.Increment();
      stage_metrics_.sent_bytes.Increment(static_cast<double>(pending->event.value.size()));
    }
  } else {
    stage_metrics_.error(status.error().type, Phase::Sending).Increment();
    delivery_errors_.Increment();
  }
  if (pending->callback) pending->callback(status, delivery);
  checkFlush();
}

void Producer::onDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  std::unique_ptr<Pending> pending(static_cast<Pending*>(message->_private));
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->brokers_down_ = false;
    self->complete(std::move(pending), Status::ok(), {message->partition, message->offset});
    return;
  }
  Status status(message->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? ErrorType::Timeout
                                                                  : ErrorType::Kafka,
                fmt::format("delivery to {}: {}", pending->event.topic,
                            rd_kafka_err2str(message->err)));
  self->complete(std::move(pending), status, {});
}

void Producer::onError(rd_kafka_t* rk, int error, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  const auto err = static_cast<rd_kafka_resp_err_t>(error);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    Status status = fatalError(rk, "producer");
    if (self->on_fatal_) self->on_fatal_(status);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    self->brokers_down_ = self->brokers_down_ || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    self->last_broker_error_ = reason;
  }
}

int Producer::onStatistics(rd_kafka_t*, char* json, size_t length, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  auto statistics = self->client_metrics_.update(std::string_view(json, length));
  if (statistics && statistics->brokers_up > 0) self->brokers_down_ = false;
  return 0;  // librdkafka frees the JSON
}

health::CheckResult Producer::healthCheck() const {
  if (brokers_down_) {
    return {health::State::Unhealthy,
            fmt::format("No Kafka broker reachable: {}", last_broker_error_)};
  }
  if (!backlog_.empty()) {
    return {health::State::Degraded,
            fmt::format("{} events wait for room in the producer queue.", backlog_.size())};
  }
  return {health::State::Healthy, fmt::format("{} events awaiting acknowledgement.", outstanding_)};
}

void Producer::flush(std::chrono::milliseconds deadline, std::function<void(Status)> done) {
  flush_done_ = std::move(done);
  if (outstanding_ == 0) {
    checkFlush();
    return;
  }
  queue_->serve();
  (void)flush_deadline_.start(static_cast<std::uint64_t>(deadline.count()), 0, [this] {
    if (!flush_done_) return;
    auto done = std::move(flush_done_);
    flush_done_ = nullptr;
    done(Status(ErrorType::Timeout,
                fmt::format("{} events still unacknowledged at the flush deadline", outstanding_)));
  });
}

void Producer::checkFlush() noexcept {
  if (!flush_done_ || outstanding_ != 0) return;
  flush_deadline_.stop();
  auto done = std::move(flush_done_);
  flush_done_ = nullptr;
  done(Status::ok());
}

}  // namespace pipeline::kafka
