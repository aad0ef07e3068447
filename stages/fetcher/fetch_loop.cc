#include "stages/fetcher/fetch_loop.h"

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/clock.h"
#include "pipeline/kafka/tail.h"
#include "pipeline/kafka/topics.h"

namespace stages::fetcher {
namespace {

constexpr std::chrono::seconds kTailTimeout{60};
// While catching up, the head moves on; re-read it this often to widen the target.
constexpr std::int64_t kCatchUpHeadPollMs = 3000;

TimePoint steadyNow() { return Clock::now(); }

FailureKind transportFailureKind(const pipeline::Error& error) {
  return error.type == pipeline::ErrorType::Timeout ? FailureKind::Timeout : FailureKind::Transport;
}

std::vector<std::string> nodeSources(const std::vector<NodeSpec>& nodes) {
  std::vector<std::string> sources;
  for (const auto& node : nodes) sources.push_back(pipeline::http::hostAndPort(node.url));
  return sources;
}

}  // namespace


pipeline::Result<std::shared_ptr<FetchLoop>> FetchLoop::create(pipeline::Runtime& rt,
                                                               FetcherConfig config) {
  const std::string topic = rt.topic(pipeline::kafka::topics::kBlocksRaw);
  const std::size_t keep = config.sequencer.max_fork_depth + 1;
  auto records = pipeline::kafka::readTail(rt.settings().kafka, topic, keep + kMaxUnacknowledged,
                                           kTailTimeout);
  if (!records) return records.error();
  BlockParser parser;
  std::vector<std::vector<TailRecord>> partitions;
  for (const auto& partition : *records) {
    auto& out = partitions.emplace_back();
    for (const auto& record : partition) {
      auto parsed = tailRecordFrom(record.value(), parser);
      if (!parsed) {
        return pipeline::Error{
            pipeline::ErrorType::InvalidPayload,
            fmt::format("{}[{}]@{} cannot be read back: {}", topic, record.partition(),
                        record.offset(), parsed.error().message)};
      }
      out.push_back(*parsed);
    }
  }
  Tail tail = analyzeTail(partitions, keep + kMaxUnacknowledged);
  if (tail.recent.size() > keep) {
    tail.recent.erase(tail.recent.begin(),
                      tail.recent.end() - static_cast<std::ptrdiff_t>(keep));
  }
  if (tail.tip) {
    rt.log().info("Resuming after the tail of blocks.raw.",
                  {{"height", tail.tip->height},
                   {"block_id", tail.tip->block_id},
                   {"present_above_gap", tail.present_above.size()}});
  }
  std::shared_ptr<FetchLoop> self(new FetchLoop(rt, std::move(config), std::move(tail)));
  auto client = pipeline::http::Client::create(
      rt.loop(), {.max_concurrent = self->config_.sequencer.max_in_flight_requests + 2,
                  .default_timeout = self->config_.request_timeout,
                  .max_response_bytes = 256u << 20});
  if (!client) return client.error();
  self->client_ = std::move(*client);
  auto timer = pipeline::uv::Timer::create(rt.loop());
  if (!timer) return timer.error();
  self->timer_ = std::move(*timer);
  return self;
}

FetchLoop::FetchLoop(pipeline::Runtime& rt, FetcherConfig config, Tail tail)
    : rt_(rt),
      config_(std::move(config)),
      metrics_(FetcherMetrics::create(rt.metrics(), config_.nodes.size())),
      topic_(rt.topic(pipeline::kafka::topics::kBlocksRaw)),
      node_sources_(nodeSources(config_.nodes)),
      tail_(std::move(tail)),
      random_(std::random_device{}()),
      pool_(config_.nodes, config_.pool,
            [this] { return std::uniform_real_distribution<double>(0, 1)(random_); },
            steadyNow()),
      live_(config_.live) {}

void FetchLoop::start() {
  // After a restart, the highest height on blocks.raw is the last one emitted.
  if (tail_.tip) metrics_.last_emitted_height.Set(static_cast<double>(tail_.tip->height));
  auto start = decideStart(config_.start, tail_, std::nullopt);
  if (start) {
    sequencer_.emplace(config_.sequencer, std::move(*start),
                       [this] { return std::uniform_real_distribution<double>(0, 1)(random_); });
  } else if (start.error().type != pipeline::ErrorType::Unavailable) {
    rt_.fail(start.status());  // e.g. fetcher.start=resume on an empty topic
    failed_ = true;
    return;
  }
  // Without a start yet (start at the head), the first head answer creates the sequencer.
  pump();
}

void FetchLoop::pump() noexcept {
  if (failed_) return;
  const TimePoint now = steadyNow();
  if (sequencer_) {
    if (!sequencer_->status()) {
      failed_ = true;
      rt_.fail(sequencer_->status());
      return;
    }
    publish();
    if (!draining_) planRequests(now);
  }
  if (!draining_ && !head_poll_in_flight_ && pipeline::wallClockMs() >= next_head_poll_ms_) pollHead();
  updateMetrics();
  armTimer(now);
}

void FetchLoop::publish() {
  for (auto& output : sequencer_->takeOutput()) backlog_.push_back(std::move(output));
  while (!backlog_.empty() && unacknowledged_ < kMaxUnacknowledged) {
    Output output = std::move(backlog_.front());
    backlog_.pop_front();
    const bool retraction = output.type == Output::Type::Retraction;
    if (!retraction) {
      // Acknowledged before a crash above a gap: already on the topic, never published twice.
      auto present = tail_.present_above.find(output.block.height);
      if (present != tail_.present_above.end()) {
        const bool same = present->second == output.block.block_id;
        tail_.present_above.erase(present);
        if (same) {
          sequencer_->onDelivered(output.block.raw_json.size());
          metrics_.last_emitted_height.Set(static_cast<double>(output.block.height));
          continue;
        }
      }
    }
    std::string value =
        retraction ? retractionValue(output.block.ref()) : std::move(output.block.raw_json);
    const std::uint64_t bytes = retraction ? 0 : value.size();
    const std::int64_t height = output.block.height;
    if (retraction) {
      metrics_.retractions.Increment();
    } else {
      metrics_.emitted_blocks.Increment();
      metrics_.last_emitted_height.Set(static_cast<double>(height));
    }
    ++unacknowledged_;
    rt_.sink().send(
        {.topic = topic_,
         .key = std::to_string(height),
         .value = std::move(value),
         .headers = {{"fetched_at_ms", std::to_string(pipeline::wallClockMs())},
                     {"source", node_sources_[output.block.node]}}},
        [this, bytes, height](const pipeline::Status& status, const pipeline::Delivery&) {
          if (!status) {
            // The next start resumes from what the broker holds; carrying on would leave a gap.
            failed_ = true;
            rt_.fail(pipeline::Status(status.error().type,
                                      fmt::format("height {} was not acknowledged: {}", height,
                                                  status.error().message)));
            return;
          }
          --unacknowledged_;
          if (sequencer_) sequencer_->onDelivered(bytes);
          pump();
        });
  }
}

void FetchLoop::planRequests(TimePoint now) {
  for (const auto& request : sequencer_->plan(now)) {
    auto node = pool_.acquire(now);
    if (!node) {
      sequencer_->onCancelled(request.id, pool_.nextAvailableAt(now));
      continue;
    }
    sendRange(request, *node);
  }
}

void FetchLoop::sendRange(const FetchRequest& request, std::size_t node) {
  const NodeSpec& spec = pool_.spec(node);
  pipeline::http::Client::Request http{.method = "POST", .timeout = config_.request_timeout};
  if (request.walk_back) {
    http.url = spec.url + "/wallet/getblockbynum";
    http.body = fmt::format(R"({{"num":{}}})", request.start);
  } else {
    http.url = spec.url + "/wallet/getblockbylimitnext";
    http.body = fmt::format(R"({{"startNum":{},"endNum":{}}})", request.start, request.end);
  }
  http.headers.set("Content-Type", "application/json");
  if (!spec.api_key.empty()) http.headers.set("TRON-PRO-API-KEY", spec.api_key);
  requests_[request.id] = node;
  metrics_.nodes[node].requests->Increment();
  const TimePoint sent = steadyNow();
  client_->request(std::move(http), [this, id = request.id, node, sent](auto response) {
    onRangeAnswer(id, node, sent, std::move(response));
  });
}

bool FetchLoop::abandonWhileDraining(std::size_t node) {
  if (!draining_) return false;
  pool_.onAbandoned(node);
  if (requests_.empty() && !head_poll_in_flight_ && drained_) std::exchange(drained_, nullptr)();
  return true;
}

void FetchLoop::recordTransportFailure(std::size_t node, TimePoint now,
                                       const pipeline::Error& error) {
  const FailureKind kind = transportFailureKind(error);
  metrics_.nodes[node].error(kind).Increment();
  pool_.onFailure(node, now, kind, std::nullopt);
}

NodeAnswer FetchLoop::interpret(const pipeline::http::Response& response) {
  metrics_.fetched_bytes.Increment(static_cast<double>(response.body.size()));
  return parser_.interpret(response.status, response.headers.get("Retry-After").value_or(""),
                           response.body, pipeline::wallClockMs());
}

void FetchLoop::recordNode(std::size_t node, TimePoint sent, TimePoint now,
                           const NodeAnswer& answer) {
  const auto latency = std::chrono::duration_cast<Millis>(now - sent);
  metrics_.nodes[node].request_duration->Observe(std::chrono::duration<double>(now - sent).count());
  if (answer.kind == AnswerKind::Blocks) {
    pool_.onSuccess(node, now, latency);
    return;
  }
  const FailureKind kind = failureKindOf(answer);
  metrics_.nodes[node].error(kind).Increment();
  pool_.onFailure(node, now, kind, answer.retry_after);
  rt_.log().warnEvery(fmt::format("node-{}-{}", node, failureKindName(kind)), {},
                      "A node request failed.",
                      {{"node", node}, {"error_kind", failureKindName(kind)},
                       {"error", answer.message}});
}

void FetchLoop::onRangeAnswer(std::uint64_t id, std::size_t node, TimePoint sent,
                              pipeline::Result<pipeline::http::Response> response) {
  requests_.erase(id);
  if (abandonWhileDraining(node) || !sequencer_) return;
  const TimePoint now = steadyNow();
  if (!response) {
    recordTransportFailure(node, now, response.error());
    sequencer_->onFailure(id, now);
    pump();
    return;
  }
  NodeAnswer answer = interpret(*response);
  recordNode(node, sent, now, answer);
  switch (answer.kind) {
    case AnswerKind::Blocks:
      metrics_.fetched_blocks.Increment(static_cast<double>(answer.blocks.size()));
      for (auto& block : answer.blocks) block.node = node;
      sequencer_->onBlocks(id, std::move(answer.blocks), now);
      break;
    case AnswerKind::NotFound: sequencer_->onEmpty(id, now); break;
    case AnswerKind::RateLimited:
      // Not the range's fault: ask again as soon as some node may take it.
      sequencer_->onCancelled(id, pool_.nextAvailableAt(now));
      break;
    default: sequencer_->onFailure(id, now);
  }
  pump();
}

void FetchLoop::pollHead() {
  const TimePoint now = steadyNow();
  auto node = pool_.acquire(now);
  if (!node) {
    next_head_poll_ms_ = pipeline::wallClockMs() + std::max<std::int64_t>(
        50, std::chrono::duration_cast<Millis>(pool_.nextAvailableAt(now) - now).count());
    return;
  }
  const NodeSpec& spec = pool_.spec(*node);
  const bool solidified = config_.sequencer.finality == FinalityMode::Solidified;
  pipeline::http::Client::Request http{
      .method = "POST",
      .url = spec.url + (solidified ? "/walletsolidity/getnowblock" : "/wallet/getnowblock"),
      .timeout = config_.request_timeout};
  if (!spec.api_key.empty()) http.headers.set("TRON-PRO-API-KEY", spec.api_key);
  head_poll_in_flight_ = true;
  metrics_.nodes[*node].requests->Increment();
  client_->request(std::move(http), [this, node = *node, now](auto response) {
    onHeadAnswer(node, now, std::move(response));
  });
}

void FetchLoop::onHeadAnswer(std::size_t node, TimePoint sent,
                             pipeline::Result<pipeline::http::Response> response) {
  head_poll_in_flight_ = false;
  if (abandonWhileDraining(node)) return;
  const TimePoint now = steadyNow();
  if (!response) {
    recordTransportFailure(node, now, response.error());
    next_head_poll_ms_ = pipeline::wallClockMs() + config_.live.min_interval.count();
    pump();
    return;
  }
  NodeAnswer answer = interpret(*response);
  recordNode(node, sent, now, answer);
  if (answer.kind != AnswerKind::Blocks || answer.blocks.empty()) {
    next_head_poll_ms_ = pipeline::wallClockMs() + config_.live.min_interval.count();
    pump();
    return;
  }
  const ParsedBlock& head = answer.blocks.front();
  if (!sequencer_) {
    auto start = decideStart(config_.start, tail_, head.height);
    if (!start) {
      failed_ = true;
      rt_.fail(start.status());
      return;
    }
    rt_.log().info("Starting at the head.", {{"height", start->next_height}});
    sequencer_.emplace(config_.sequencer, std::move(*start),
                       [this] { return std::uniform_real_distribution<double>(0, 1)(random_); });
  }
  const bool solidified = config_.sequencer.finality == FinalityMode::Solidified;
  if (head.height > last_head_height_) {
    last_head_height_ = head.height;
    metrics_.head_height.Set(static_cast<double>(head.height));
    live_.onNewBlock(head.timestamp_ms, pipeline::wallClockMs());
    solidified ? sequencer_->onSolidifiedHead(head) : sequencer_->onHead(head);
    if (sequencer_->target() + 1 < sequencer_->nextHeight()) {
      // blocks.raw is ahead of this node (another node, or a chain restarted from a lower head).
      rt_.log().warnEvery("node-behind-topic", {.interval = std::chrono::minutes(1)},
                          "The node's head is below the next height to fetch; waiting for it.",
                          {{"next_height", sequencer_->nextHeight()},
                           {"node_head", head.height}});
    }
  } else {
    live_.onEmptyPoll(pipeline::wallClockMs());
  }
  // Caught up: poll at the expected next slot. Catching up: ranges do the work; re-read the
  // head now and then to widen the target.
  next_head_poll_ms_ = sequencer_->caughtUp() ? live_.nextPollAt(pipeline::wallClockMs())
                                              : pipeline::wallClockMs() + kCatchUpHeadPollMs;
  pump();
}

void FetchLoop::armTimer(TimePoint now) {
  if (draining_ || failed_) return;
  TimePoint due = TimePoint::max();
  if (sequencer_) due = std::min(due, sequencer_->nextDueAt(now));
  if (!head_poll_in_flight_) {
    const auto head_in = std::max<std::int64_t>(0, next_head_poll_ms_ - pipeline::wallClockMs());
    due = std::min(due, now + Millis(head_in));
  }
  if (due == TimePoint::max()) return;  // events (answers, deliveries) will pump
  const auto delay = std::max<std::int64_t>(
      1, std::chrono::duration_cast<Millis>(due - now).count());
  (void)timer_.start(static_cast<std::uint64_t>(delay), 0, [this] { pump(); });
}

void FetchLoop::updateMetrics() {
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    metrics_.nodes[i].up->Set(pool_.state(i).breaker == BreakerState::Open ? 0 : 1);
  }
  if (pool_.failovers() > failovers_reported_) {
    metrics_.failovers.Increment(static_cast<double>(pool_.failovers() - failovers_reported_));
    failovers_reported_ = pool_.failovers();
  }
  if (!sequencer_) return;
  const auto& stats = sequencer_->stats();
  metrics_.target_height.Set(static_cast<double>(sequencer_->target()));
  metrics_.lag_blocks.Set(static_cast<double>(sequencer_->lagBlocks()));
  metrics_.in_flight_requests.Set(static_cast<double>(sequencer_->requestsInFlight()));
  metrics_.in_flight_bytes.Set(static_cast<double>(sequencer_->bytesInFlight()));
  auto raise = [](pipeline::metrics::Counter& counter, std::uint64_t value) {
    if (static_cast<double>(value) > counter.Value()) {
      counter.Increment(static_cast<double>(value) - counter.Value());
    }
  };
  raise(metrics_.forks, stats.forks);
  raise(metrics_.gaps_repaired, stats.gaps_repaired);
  raise(metrics_.link_mismatches, stats.link_mismatches);
}

pipeline::health::CheckResult FetchLoop::readiness() const {
  if (failed_) return {pipeline::health::State::Unhealthy, "Stopped after a fatal error."};
  if (!pool_.anyUp(steadyNow())) {
    return {pipeline::health::State::Unhealthy, "No TRON node is usable."};
  }
  if (!sequencer_) return {pipeline::health::State::Degraded, "Waiting for the first head."};
  return {pipeline::health::State::Healthy,
          fmt::format("Next height {}, {} blocks behind the target.", sequencer_->nextHeight(),
                      sequencer_->lagBlocks())};
}

void FetchLoop::drain(std::function<void()> done) {
  draining_ = true;
  timer_.stop();
  if (requests_.empty() && !head_poll_in_flight_) {
    done();
    return;
  }
  // Answers still arrive; each is dropped (its range is fetched again after the restart).
  drained_ = std::move(done);
  client_->close([this] {
    if (drained_) std::exchange(drained_, nullptr)();
  });
}

}  // namespace stages::fetcher
