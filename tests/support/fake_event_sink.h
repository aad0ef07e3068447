#pragma once

#include <cstddef>
#include <vector>

#include "pipeline/event_sink.h"

namespace testsupport {

/**
 * An EventSink that holds every sent event and its callback until the test acknowledges or fails
 * it, as the broker would later on the loop. Test thread only.
 */
class FakeEventSink : public pipeline::EventSink {
 public:
  void send(pipeline::Event event, DeliveryCallback on_delivery) override {
    events.push_back(std::move(event));
    callbacks.push_back(std::move(on_delivery));
  }
  void acknowledge(std::size_t index) {
    callbacks.at(index)(pipeline::Status::ok(), {.partition = 0, .offset = static_cast<std::int64_t>(index)});
  }
  /** Acknowledges events [from, events.size()) in order; returns how many. */
  std::size_t acknowledgeFrom(std::size_t from) {
    const std::size_t to = events.size();
    for (std::size_t i = from; i < to; ++i) acknowledge(i);
    return to - from;
  }
  void fail(std::size_t index) {
    callbacks.at(index)(pipeline::Status(pipeline::ErrorType::Timeout, "message timed out"), {});
  }
  std::vector<pipeline::Event> events;
  std::vector<DeliveryCallback> callbacks;
};

}  // namespace testsupport
