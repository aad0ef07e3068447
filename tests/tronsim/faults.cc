#include "tests/tronsim/faults.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <utility>

#include "pipeline/json.h"

namespace tronsim {

using pipeline::ErrorType;
using pipeline::Result;

namespace {

constexpr std::string_view kSuspendedMessage =
    "The key exceeds the frequency limit(15), and the query server is suspended for 30s";
constexpr std::string_view kJavaErrorMessage =
    "class java.lang.IllegalAccessException : lack of computing resources";

struct KindName {
  FaultKind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {
    {FaultKind::HttpError, "http_error"}, {FaultKind::Suspended, "suspended"},
    {FaultKind::Empty, "empty"},          {FaultKind::JavaError, "java_error"},
    {FaultKind::Truncate, "truncate"},    {FaultKind::Reset, "reset"},
    {FaultKind::Stall, "stall"},
};

std::optional<FaultKind> kindFromName(std::string_view name) {
  for (const auto& entry : kKinds) {
    if (entry.name == name) return entry.kind;
  }
  return std::nullopt;
}

pipeline::Error invalid(std::string message) {
  return pipeline::Error{ErrorType::InvalidArgument, std::move(message)};
}

// Applies one key of a rule, from either the JSON or the CLI form. `text` is the CLI value or the
// JSON scalar rendered as text, so both forms share one validator.
pipeline::Status applyRuleKey(FaultRule& rule, std::string_view key, std::string_view text,
                              std::string_view where) {
  auto as_int = [&](std::int64_t& out) -> bool {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  };
  if (key == "kind") {
    auto kind = kindFromName(text);
    if (!kind) return invalid(fmt::format("{}kind: unknown \"{}\"", where, text));
    rule.kind = *kind;
  } else if (key == "path") {
    rule.path = std::string(text);
  } else if (key == "probability") {
    char* end = nullptr;
    std::string copy(text);
    double value = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || copy.empty() || !(value >= 0.0 && value <= 1.0)) {
      return invalid(fmt::format("{}probability: must be a number in 0..1 (got {})", where, text));
    }
    rule.probability = value;
  } else if (key == "count") {
    std::int64_t value = 0;
    if (!as_int(value) || value < 0) {
      return invalid(fmt::format("{}count: must be an integer >= 0 (got {})", where, text));
    }
    rule.count = static_cast<std::uint64_t>(value);
  } else if (key == "status") {
    std::int64_t value = 0;
    if (!as_int(value) || value < 100 || value > 599) {
      return invalid(fmt::format("{}status: must be an HTTP status 100..599 (got {})", where, text));
    }
    rule.status = static_cast<int>(value);
  } else if (key == "retry_after_s") {
    std::int64_t value = 0;
    if (!as_int(value)) {
      return invalid(fmt::format("{}retry_after_s: must be an integer (got {})", where, text));
    }
    rule.retry_after_s = value;
  } else if (key == "message") {
    rule.message = std::string(text);
  } else if (key == "fired") {
    // Accepted so that GET's output can be posted back unchanged; the counter restarts.
  } else {
    return invalid(fmt::format("{}{}: unknown key", where, key));
  }
  return pipeline::Status::ok();
}

std::string scalarText(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::STRING: return std::string(std::string_view(value));
    case simdjson::dom::element_type::INT64: return std::to_string(int64_t(value));
    case simdjson::dom::element_type::UINT64: return std::to_string(uint64_t(value));
    case simdjson::dom::element_type::DOUBLE: return fmt::format("{}", double(value));
    case simdjson::dom::element_type::BOOL: return bool(value) ? "true" : "false";
    default: return "<non-scalar>";
  }
}

pipeline::Status readUnsigned(simdjson::dom::element value, std::string_view name,
                              std::uint64_t& out) {
  std::int64_t number = 0;
  if (value.get_int64().get(number) || number < 0) {
    return invalid(fmt::format("{}: must be an integer >= 0", name));
  }
  out = static_cast<std::uint64_t>(number);
  return pipeline::Status::ok();
}

}  // namespace

std::string_view faultKindName(FaultKind kind) noexcept {
  for (const auto& entry : kKinds) {
    if (entry.kind == kind) return entry.name;
  }
  return "unknown";
}

Result<FaultConfig> FaultConfig::fromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return invalid(fmt::format("body: not JSON ({})", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) return invalid("body: must be a JSON object");
  FaultConfig config;
  for (auto field : object) {
    std::string_view key = field.key;
    if (key == "latency_ms") {
      if (auto s = readUnsigned(field.value, key, config.latency_ms); !s) return s;
    } else if (key == "jitter_ms") {
      if (auto s = readUnsigned(field.value, key, config.jitter_ms); !s) return s;
    } else if (key == "seed") {
      if (auto s = readUnsigned(field.value, key, config.seed); !s) return s;
    } else if (key == "latency_path") {
      std::string_view text;
      if (field.value.get_string().get(text)) return invalid("latency_path: must be a string");
      config.latency_path = std::string(text);
    } else if (key == "rules") {
      simdjson::dom::array rules;
      if (field.value.get_array().get(rules)) return invalid("rules: must be an array");
      std::size_t index = 0;
      for (auto item : rules) {
        const std::string where = fmt::format("rules[{}].", index++);
        simdjson::dom::object rule_object;
        if (item.get_object().get(rule_object)) return invalid(where + ": must be an object");
        FaultRule rule;
        bool has_kind = false;
        for (auto rule_field : rule_object) {
          std::string_view rule_key = rule_field.key;
          has_kind = has_kind || rule_key == "kind";
          auto status = applyRuleKey(rule, rule_key, scalarText(rule_field.value), where);
          if (!status) return status;
        }
        if (!has_kind) return invalid(where + "kind: required");
        config.rules.push_back(std::move(rule));
      }
    } else {
      return invalid(fmt::format("{}: unknown key", key));
    }
  }
  return config;
}

Result<FaultRule> FaultConfig::parseRuleSpec(std::string_view spec) {
  FaultRule rule;
  const auto colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  if (auto status = applyRuleKey(rule, "kind", kind, ""); !status) return status;
  std::string_view rest = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view pair = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return invalid(fmt::format("{}: expected key=value", pair));
    }
    if (auto status = applyRuleKey(rule, pair.substr(0, eq), pair.substr(eq + 1), "");
        !status) {
      return status;
    }
  }
  return rule;
}

std::string FaultConfig::toJson() const {
  pipeline::json::Writer writer;
  writer.beginObject()
      .field("seed", seed)
      .field("latency_ms", latency_ms)
      .field("jitter_ms", jitter_ms)
      .field("latency_path", latency_path)
      .key("rules")
      .beginArray();
  for (const auto& rule : rules) {
    writer.beginObject()
        .field("kind", faultKindName(rule.kind))
        .field("path", rule.path)
        .field("probability", rule.probability)
        .field("count", rule.count);
    if (rule.status != 0) writer.field("status", rule.status);
    if (rule.retry_after_s) writer.field("retry_after_s", *rule.retry_after_s);
    if (!rule.message.empty()) writer.field("message", rule.message);
    writer.field("fired", rule.fired).endObject();
  }
  writer.endArray().endObject();
  return std::move(writer).str();
}

Faults::Faults(FaultConfig config) { configure(std::move(config)); }

void Faults::configure(FaultConfig config) {
  config_ = std::move(config);
  random_.seed(config_.seed);
}

void Faults::clear() {
  config_.rules.clear();
  config_.latency_ms = 0;
  config_.jitter_ms = 0;
  config_.latency_path.clear();
}

double Faults::uniform() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

bool Faults::inScope(std::string_view scope, std::string_view path) noexcept {
  if (scope.empty() || scope == "*") return true;
  if (scope.front() != '/') {
    // A bare endpoint name: the last path segment, under any API prefix.
    const auto slash = path.rfind('/');
    return path.substr(slash == std::string_view::npos ? 0 : slash + 1) == scope;
  }
  if (scope.back() == '/') return path.starts_with(scope);
  return path == scope;
}

FaultDecision Faults::decide(std::string_view path) {
  FaultDecision decision;
  if (inScope(config_.latency_path, path)) {
    decision.delay_ms = config_.latency_ms;
    if (config_.jitter_ms > 0) {
      decision.delay_ms += std::uniform_int_distribution<std::uint64_t>(0, config_.jitter_ms)(random_);
    }
  }
  for (auto& rule : config_.rules) {
    if (!inScope(rule.path, path)) continue;
    if (rule.count != 0 && rule.fired >= rule.count) continue;
    // Always draw for a rule in scope, so later rules see the same sequence whatever fires.
    const double draw = rule.probability < 1.0 ? uniform() : 0.0;
    if (rule.probability < 1.0 && draw >= rule.probability) continue;
    ++rule.fired;
    decision.fault = rule;
    break;
  }
  return decision;
}

int Faults::statusFor(const FaultRule& rule) noexcept {
  switch (rule.kind) {
    case FaultKind::HttpError: return rule.status != 0 ? rule.status : 500;
    case FaultKind::Suspended: return rule.status != 0 ? rule.status : 403;
    default: return 200;
  }
}

std::optional<std::int64_t> Faults::retryAfterFor(const FaultRule& rule) noexcept {
  if (rule.retry_after_s) {
    if (*rule.retry_after_s < 0) return std::nullopt;
    return rule.retry_after_s;
  }
  // TronGrid's suspension names its 30 s in the body only.
  if (rule.kind != FaultKind::HttpError) return std::nullopt;
  const int status = statusFor(rule);
  if (status == 429 || status == 403) return 1;
  return std::nullopt;
}

std::string Faults::bodyFor(const FaultRule& rule) {
  pipeline::json::Writer writer;
  switch (rule.kind) {
    case FaultKind::Empty: return "{}";
    case FaultKind::Suspended:
      writer.beginObject()
          .field("Error", rule.message.empty() ? kSuspendedMessage : rule.message)
          .endObject();
      break;
    case FaultKind::JavaError:
      writer.beginObject()
          .field("Error", rule.message.empty() ? kJavaErrorMessage : rule.message)
          .endObject();
      break;
    case FaultKind::HttpError:
    default: {
      const int status = statusFor(rule);
      const std::string fallback =
          fmt::format("tronsim injected HTTP {}", status);
      writer.beginObject()
          .field("Error", rule.message.empty() ? std::string_view(fallback) : rule.message)
          .endObject();
      break;
    }
  }
  return std::move(writer).str();
}

}  // namespace tronsim
