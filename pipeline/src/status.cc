#include "pipeline/status.h"

#include <fmt/format.h>

namespace pipeline {

std::string_view errorTypeName(ErrorType type) noexcept {
  switch (type) {
    case ErrorType::InvalidConfig: return "invalid_config";
    case ErrorType::InvalidArgument: return "invalid_argument";
    case ErrorType::InvalidPayload: return "invalid_payload";
    case ErrorType::Io: return "io";
    case ErrorType::Kafka: return "kafka";
    case ErrorType::Http: return "http";
    case ErrorType::Timeout: return "timeout";
    case ErrorType::Unavailable: return "unavailable";
    case ErrorType::Internal: return "internal";
  }
  return "internal";
}

std::string Status::toString() const {
  if (ok_) return "ok";
  return fmt::format("{}: {}", errorTypeName(error_.type), error_.message);
}

}  // namespace pipeline
