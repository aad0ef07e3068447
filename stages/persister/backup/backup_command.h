#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "pipeline/config/config_source.h"
#include "pipeline/status.h"

// `pointtron-persister backup <command>`: the offline backup commands (list, verify, restore,
// drill) and `now`, which asks the running persister for a backup over its API. Blocking; run
// from main() before runStage, never on a loop.

namespace stages::persister::backup {

/** Exit codes of the backup commands. */
inline constexpr int kBackupExitOk = 0;
inline constexpr int kBackupExitFailed = 1;   // verification, I/O, refused restore, failed backup
inline constexpr int kBackupExitUsage = 2;    // unknown command, missing or unexpected argument
inline constexpr int kBackupExitConfig = 78;  // EX_CONFIG: the message names the key

/** One HTTP answer of the persister's API. */
struct HttpReply {
  long status = 0;
  std::string body;
};

/**
 * One blocking HTTP request with `Authorization: Bearer <token>` and an empty body. Errors: Http
 * (refused, reset, ...), Timeout. Any HTTP status is a reply, not an error.
 */
using HttpCall = std::function<pipeline::Result<HttpReply>(
    std::string_view method, const std::string& url, const std::string& token)>;

/** What the commands take from the world; the defaults are the real ones. */
struct BackupCommandDeps {
  std::function<std::int64_t()> wall_ms;
  /** libcurl (easy API) when empty. */
  HttpCall http;
  /** std::this_thread::sleep_for when empty (`now` polls once a second). */
  std::function<void(std::chrono::milliseconds)> sleep;
};

/**
 * Runs `argv[0] backup <command> …` and returns its exit code; nullopt when argv[1] is not
 * "backup" (the process then runs as the stage). Output goes to `out`, diagnostics to `err`.
 * The configuration is read as the stage reads it: `--config FILE` (else POINTTRON_CONFIG from
 * `env`) with the POINTTRON_* variables of `env` on top. Unknown keys of the persister's own
 * sections (persister.*, backup.*) are refused as the stage refuses them.
 */
std::optional<int> runBackupCommand(int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err,
                                    const pipeline::config::ConfigSource::Environment& env,
                                    std::function<std::int64_t()> wall_ms);

/** As above, with the clock, the HTTP client and the sleep replaceable (tests). */
std::optional<int> runBackupCommand(int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err,
                                    const pipeline::config::ConfigSource::Environment& env,
                                    const BackupCommandDeps& deps);

/** The usage text (`backup --help`). */
std::string_view backupCommandUsage() noexcept;

}  // namespace stages::persister::backup
