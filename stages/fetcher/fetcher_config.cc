#include "stages/fetcher/fetcher_config.h"

#include <charconv>
#include <cmath>

namespace stages::fetcher {
namespace {

using pipeline::Error;
using pipeline::ErrorType;

Error invalid(std::string_view key, std::string message) {
  return Error{ErrorType::InvalidConfig, std::string(key) + ": " + message};
}

// Assigns *result to `out` or returns its error from the enclosing function.
#define PIPE_ASSIGN_OR_RETURN(out, expr) \
  do {                                   \
    auto result_ = (expr);               \
    if (!result_) return result_.error(); \
    out = std::move(*result_);           \
  } while (false)

}  // namespace

std::string tronGridUrl(std::string_view network) {
  if (network == "shasta") return "https://api.shasta.trongrid.io";
  if (network == "nile") return "https://nile.trongrid.io";
  return "https://api.trongrid.io";
}

pipeline::Result<FetcherConfig> FetcherConfig::parse(const pipeline::config::ConfigSource& source) {
  FetcherConfig config;

  PIPE_ASSIGN_OR_RETURN(config.network,
                        source.getChoice("fetcher.network", "mainnet", {"mainnet", "shasta", "nile"}));
  std::vector<std::string> urls;
  PIPE_ASSIGN_OR_RETURN(urls, source.getStringList("fetcher.node_urls", {tronGridUrl(config.network)}));
  if (urls.empty()) return invalid("fetcher.node_urls", "needs at least one URL");
  std::vector<std::string> keys;
  PIPE_ASSIGN_OR_RETURN(keys, source.getStringList("fetcher.node_api_keys", {}));
  std::vector<std::string> rates;
  PIPE_ASSIGN_OR_RETURN(rates, source.getStringList("fetcher.node_rate_limits_rps", {"10"}));
  if (keys.size() > 1 && keys.size() != urls.size()) {
    return invalid("fetcher.node_api_keys",
                   "needs one entry (for every node) or one per node in fetcher.node_urls (got " +
                       std::to_string(keys.size()) + " for " + std::to_string(urls.size()) +
                       " nodes)");
  }
  // An empty list is refused too: it names no limit, and "unlimited" is written as 0.
  if (rates.size() != 1 && rates.size() != urls.size()) {
    return invalid("fetcher.node_rate_limits_rps",
                   "needs one entry (for every node) or one per node in fetcher.node_urls (got " +
                       std::to_string(rates.size()) + " for " + std::to_string(urls.size()) +
                       " nodes)");
  }
  for (std::size_t i = 0; i < urls.size(); ++i) {
    NodeSpec node;
    node.url = urls[i];
    while (!node.url.empty() && node.url.back() == '/') node.url.pop_back();
    if (!(node.url.starts_with("http://") || node.url.starts_with("https://")) ||
        node.url.find_first_of(" \t") != std::string::npos) {
      return invalid("fetcher.node_urls", "entry " + std::to_string(i + 1) +
                                              " must be an http:// or https:// URL (got \"" +
                                              node.url + "\")");
    }
    if (node.url.find('@') != std::string::npos) {
      return invalid("fetcher.node_urls", "entry " + std::to_string(i + 1) +
                                              " must not carry credentials; use fetcher.node_api_keys");
    }
    if (!keys.empty()) {
      const auto& key = keys.size() == 1 ? keys[0] : keys[i];
      node.api_key = key == "-" ? "" : key;
    }
    const auto& rate_text = rates.size() == 1 ? rates[0] : rates[i];
    double rate = 0;
    const auto* end = rate_text.data() + rate_text.size();
    auto [ptr, ec] = std::from_chars(rate_text.data(), end, rate);
    if (ec != std::errc() || ptr != end || !std::isfinite(rate) || rate < 0 || rate > 10'000) {
      return invalid("fetcher.node_rate_limits_rps",
                     "entries must be numbers in [0, 10000], 0 = unlimited (got \"" + rate_text + "\")");
    }
    node.rate_limit_rps = rate;
    config.nodes.push_back(std::move(node));
  }

  auto& seq = config.sequencer;
  std::uint64_t value = 0;
  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.range_size_blocks", 20, 1, 100));
  seq.range_size = static_cast<std::uint32_t>(value);
  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.max_in_flight_requests", 4, 1, 64));
  seq.max_in_flight_requests = static_cast<std::uint32_t>(value);
  PIPE_ASSIGN_OR_RETURN(seq.max_in_flight_bytes,
                        source.getUint("fetcher.max_in_flight_bytes", seq.max_in_flight_bytes,
                                       1ull << 20, 4ull << 30));
  PIPE_ASSIGN_OR_RETURN(seq.block_size_estimate_bytes,
                        source.getUint("fetcher.block_size_estimate_bytes", 300'000, 1'000, 64ull << 20));
  std::string finality;
  PIPE_ASSIGN_OR_RETURN(finality, source.getChoice("fetcher.finality", "realtime",
                                                   {"realtime", "confirmations", "solidified"}));
  seq.finality = finality == "confirmations" ? FinalityMode::Confirmations
                 : finality == "solidified"  ? FinalityMode::Solidified
                                             : FinalityMode::Realtime;
  if (seq.finality == FinalityMode::Confirmations) {
    PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.confirmations_blocks", 19, 1, 10'000));
    seq.confirmations = static_cast<std::uint32_t>(value);
  } else {
    PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.confirmations_blocks", 0, 0, 10'000));
    if (value != 0) {
      return invalid("fetcher.confirmations_blocks",
                     "only applies with fetcher.finality=confirmations (finality is " + finality + ")");
    }
  }
  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.max_fork_depth_blocks", 32, 1, 10'000));
  seq.max_fork_depth = static_cast<std::uint32_t>(value);

  std::uint64_t initial = 0;
  std::uint64_t max = 0;
  PIPE_ASSIGN_OR_RETURN(initial, source.getUint("fetcher.retry_initial_backoff_ms", 200, 1, 600'000));
  PIPE_ASSIGN_OR_RETURN(max, source.getUint("fetcher.retry_max_backoff_ms", 10'000, 1, 3'600'000));
  if (max < initial) {
    return invalid("fetcher.retry_max_backoff_ms",
                   "must be >= fetcher.retry_initial_backoff_ms (" + std::to_string(initial) + ")");
  }
  double multiplier = 0;
  double jitter = 0;
  PIPE_ASSIGN_OR_RETURN(multiplier, source.getDouble("fetcher.retry_backoff_multiplier", 2.0, 1.0, 10.0));
  PIPE_ASSIGN_OR_RETURN(jitter, source.getDouble("fetcher.retry_jitter_ratio", 0.2, 0.0, 1.0));
  seq.retry_backoff = BackoffPolicy{Millis(initial), Millis(max), multiplier, jitter};
  config.pool.throttle_backoff = BackoffPolicy{Millis(std::max<std::uint64_t>(initial, 500)),
                                               Millis(std::max<std::uint64_t>(max, 30'000)),
                                               multiplier, jitter};

  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.breaker_open_after_failures", 3, 1, 1000));
  config.pool.failure_threshold = static_cast<std::uint32_t>(value);
  PIPE_ASSIGN_OR_RETURN(initial, source.getUint("fetcher.breaker_open_initial_ms", 1'000, 1, 3'600'000));
  PIPE_ASSIGN_OR_RETURN(max, source.getUint("fetcher.breaker_open_max_ms", 60'000, 1, 3'600'000));
  if (max < initial) {
    return invalid("fetcher.breaker_open_max_ms",
                   "must be >= fetcher.breaker_open_initial_ms (" + std::to_string(initial) + ")");
  }
  config.pool.open_backoff = BackoffPolicy{Millis(initial), Millis(max), 2.0, jitter};
  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.suspension_default_ms", 30'000, 1, 3'600'000));
  config.pool.suspension_default = Millis(value);

  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.live_poll_margin_ms", 300, 0, 3'000));
  config.live.initial_margin = Millis(value);
  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.live_poll_min_interval_ms", 250, 50, 3'000));
  config.live.min_interval = Millis(value);

  std::string start;
  PIPE_ASSIGN_OR_RETURN(start, source.getString("fetcher.start", "head"));
  if (start == "head") {
    config.start = StartSetting{StartSetting::Mode::Head, 0};
  } else if (start == "resume") {
    config.start = StartSetting{StartSetting::Mode::Resume, 0};
  } else {
    std::int64_t height = -1;
    const auto* end = start.data() + start.size();
    auto [ptr, ec] = std::from_chars(start.data(), end, height);
    if (ec != std::errc() || ptr != end || height < 0) {
      return invalid("fetcher.start", "must be head, resume or a block height >= 0 (got \"" + start + "\")");
    }
    config.start = StartSetting{StartSetting::Mode::Height, height};
  }

  PIPE_ASSIGN_OR_RETURN(value, source.getUint("fetcher.request_timeout_ms", 10'000, 100, 600'000));
  config.request_timeout = Millis(value);
  return config;
}

#undef PIPE_ASSIGN_OR_RETURN

}  // namespace stages::fetcher
