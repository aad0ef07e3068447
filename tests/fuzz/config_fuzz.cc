// The configuration loader on arbitrary YAML: the file parser, the runtime's keys and the
// fetcher's keys (the largest stage section) must each answer with a value or an InvalidConfig
// error, never crash; the unknown-key check and the redacted description must cope with whatever
// was loaded.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/config/config_source.h"
#include "pipeline/runtime.h"
#include "stages/fetcher/fetcher_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto config = pipeline::config::ConfigSource::fromYamlText(yaml, "fuzz.yaml", {});
  if (!config) return 0;
  (void)pipeline::RuntimeConfig::parse(*config, {.name = "fetcher", .default_http_port = 9101});
  (void)stages::fetcher::FetcherConfig::parse(*config);
  (void)config->checkUnknown();
  (void)config->describe();
  return 0;
}
