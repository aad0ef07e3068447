// pointtron: the operator's command line. Subcommands talk to Kafka with the same configuration
// (file + POINTTRON_ environment) as the stages.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config/config_source.h"
#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/topics.h"
#include "pipeline/runtime.h"
#include "stages/cli/status.h"

namespace {

constexpr std::string_view kUsage = R"(Usage: pointtron <command> [--config FILE]

Commands:
  topics create   create every point-tron topic that does not exist yet
  topics list     print each topic with its partition count
  status          every stage's health and key figures (status --help)

Environment overrides use POINTTRON_<SECTION>__<KEY>, e.g. POINTTRON_KAFKA__BOOTSTRAP_SERVERS.
)";

int usage(int code) {
  std::fputs(kUsage.data(), code == 0 ? stdout : stderr);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // status reads the stages' admin endpoints, not Kafka: it needs no configuration.
  if (argc >= 2 && std::string_view(argv[1]) == "status") {
    return stages::cli::runStatus(std::vector<std::string_view>(argv + 2, argv + argc));
  }
  std::vector<std::string_view> words;
  std::string config_path;
  if (const char* env = std::getenv("POINTTRON_CONFIG"); env != nullptr) config_path = env;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return usage(0);
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      config_path = std::string(arg.substr(9));
    } else {
      words.push_back(arg);
    }
  }
  if (words.size() != 2 || words[0] != "topics") return usage(pipeline::kExitUsage);

  auto config = pipeline::config::ConfigSource::loadFromProcess(config_path);
  if (!config) {
    std::fprintf(stderr, "pointtron: %s\n", config.error().message.c_str());
    return pipeline::kExitConfig;
  }
  auto settings = pipeline::RuntimeConfig::parse(*config, {.name = "cli"});
  if (!settings) {
    std::fprintf(stderr, "pointtron: %s\n", settings.error().message.c_str());
    return pipeline::kExitConfig;
  }
  // The CLI shares the stages' file, so only the runtime's sections are checked here.
  (void)config->prefixed("log.");
  const auto topics = pipeline::kafka::allTopics(settings->kafka, settings->topic_sizing);
  if (words[1] == "create") {
    auto status = pipeline::kafka::ensureTopics(settings->kafka, topics, std::chrono::seconds(30));
    if (!status) {
      std::fprintf(stderr, "pointtron: %s\n", status.toString().c_str());
      return pipeline::kExitFatal;
    }
    std::printf("%zu topics ready on %s\n", topics.size(), settings->kafka.bootstrap_servers.c_str());
    return 0;
  }
  if (words[1] == "list") {
    int missing = 0;
    for (const auto& topic : topics) {
      auto partitions =
          pipeline::kafka::partitionCount(settings->kafka, topic.name, std::chrono::seconds(10));
      if (partitions) {
        std::printf("%-32s %d partitions\n", topic.name.c_str(), *partitions);
      } else {
        std::printf("%-32s missing (%s)\n", topic.name.c_str(), partitions.error().message.c_str());
        ++missing;
      }
    }
    return missing == 0 ? 0 : pipeline::kExitFatal;
  }
  return usage(pipeline::kExitUsage);
}
