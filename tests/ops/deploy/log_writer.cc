// deploy_log_writer: the stages' log file sink, driven line by line, so that the logrotate test
// rotates a file the way a running stage writes it. Logging is configured exactly as in a stage
// (LogOptions::fromConfig over POINTTRON_LOG__* variables and an optional --config FILE); each
// line read from stdin is logged at info, flushed, and acknowledged with "ok" on stdout.
#include <iostream>
#include <string>
#include <string_view>

#include "pipeline/config/config_source.h"
#include "pipeline/log/logging.h"

int main(int argc, char** argv) {
  std::string config_path;
  if (argc == 3 && std::string_view(argv[1]) == "--config") config_path = argv[2];
  auto config = pipeline::config::ConfigSource::loadFromProcess(config_path);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 78;
  }
  auto options = pipeline::log::LogOptions::fromConfig(*config, "log_writer");
  if (!options) {
    std::cerr << options.error().message << "\n";
    return 78;
  }
  if (auto status = pipeline::log::init(*options); !status) {
    std::cerr << status.toString() << "\n";
    return 78;
  }
  const pipeline::log::Logger log("log_writer");
  std::string line;
  while (std::getline(std::cin, line)) {
    log.info(line);
    pipeline::log::flush();
    std::cout << "ok" << std::endl;
  }
  return 0;
}
