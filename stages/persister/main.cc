// pointtron-persister: blocks, stats and metrics → SQLite (exactly-once), and the query API;
// `backup …` runs the offline backup commands instead (stages/persister/backup/backup_command.h).
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "pipeline/clock.h"
#include "pipeline/runtime.h"
#include "stages/persister/backup/backup_command.h"
#include "stages/persister/persister.h"
#include "stages/persister/persister_config.h"

int main(int argc, char** argv) {
  if (auto code = stages::persister::backup::runBackupCommand(
          argc, argv, std::cout, std::cerr,
          pipeline::config::ConfigSource::environmentFrom(environ), pipeline::wallClockMs)) {
    return *code;
  }
  return pipeline::runStage(
      argc, argv,
      {.name = "persister",
       .default_http_port = 3000,
       .description = "Writes blocks and statistics to SQLite exactly once and serves the query API."},
      [](pipeline::Runtime& rt) -> pipeline::Status {
        auto config = stages::persister::PersisterConfig::parse(rt.config());
        if (!config) return config.status();
        auto persister = stages::persister::Persister::create(rt, std::move(*config));
        if (!persister) return persister.status();
        rt.keep(*persister);
        return (*persister)->start();
      });
}
