#include "stages/persister/backup/backup_command.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <simdjson.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "stages/persister/api_token.h"
#include "stages/persister/backup/archive.h"
#include "stages/persister/backup/backup_config.h"
#include "stages/persister/backup/backup_job.h"
#include "stages/persister/backup/keyring.h"
#include "stages/persister/backup/s3_client.h"
#include "stages/persister/backup/snapshot.h"
#include "stages/persister/backup/targets.h"
#include "stages/persister/persister_config.h"

namespace stages::persister::backup {
namespace {

namespace fs = std::filesystem;
using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;
using pipeline::config::ConfigSource;

constexpr std::string_view kProgram = "pointtron-persister backup";

constexpr std::string_view kUsage =
    R"(Usage: pointtron-persister backup <command> [--config FILE] [options]

Backups of the persister's database, without Kafka. The configuration is the persister's
(persister.*, backup.*): --config FILE (else POINTTRON_CONFIG), then POINTTRON_* variables.

Commands:
  list [--manifest]          every archive at every configured target: target, name, bytes,
                             created (UTC); --manifest also decrypts and shows each manifest
  verify SOURCE              decrypts and checks the whole archive (every chunk, the database's
                             SHA-256, integrity_check, the manifest's figures) and prints them
  restore SOURCE [--to PATH] [--force]
                             verifies, then places the database at PATH atomically (default:
                             persister.db_path); an existing PATH is replaced only with --force,
                             which also deletes its stale -wal and -shm (stop the persister first)
  drill                      fetches the newest archive of every target and verifies it
  create                     backs up the database at persister.db_path now, from this
                             process, to every target with retention (the cold backup of
                             ops/backup/cold-backup.sh; the persister may be stopped)
  now [--timeout-s N]        asks the running persister for a backup (POST /api/backups) and
                             waits up to N seconds (600) for its result

SOURCE: a local archive file; s3://BUCKET/KEY (with the backup.s3.* endpoint and credentials);
or an archive name (pointtron-YYYYMMDDTHHMMSSmmmZ.ptbk) at the first configured target holding it.

Exit status: 0 success, 1 failure (verification, I/O, refused restore, failed backup),
2 bad usage, 78 bad configuration.
)";

constexpr std::int64_t kDefaultTimeoutS = 600;
constexpr std::int64_t kMaxTimeoutS = 86'400;
constexpr auto kPollInterval = std::chrono::milliseconds(1000);
constexpr int kMaxConsecutivePollFailures = 10;
constexpr long kConnectTimeoutMs = 3000;
constexpr long kRequestTimeoutMs = 15000;

enum class Command { List, Verify, Restore, Drill, Now, Create };

struct Arguments {
  Command command = Command::List;
  std::string command_name;
  std::string config_path;
  bool config_given = false;
  std::string source;
  bool manifest = false;
  std::optional<std::string> to;
  bool force = false;
  std::int64_t timeout_s = kDefaultTimeoutS;
};

// An exit code to return at once, or the parsed arguments.
using Parsed = std::variant<int, Arguments>;

int usageError(std::ostream& err, std::string_view message) {
  err << kProgram << ": " << message << "\n\n" << kUsage;
  return kBackupExitUsage;
}

std::optional<Command> commandNamed(std::string_view name) {
  if (name == "list") return Command::List;
  if (name == "verify") return Command::Verify;
  if (name == "restore") return Command::Restore;
  if (name == "drill") return Command::Drill;
  if (name == "now") return Command::Now;
  if (name == "create") return Command::Create;
  return std::nullopt;
}

std::optional<std::int64_t> parseInt(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

Parsed parseArguments(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  if (argc < 3) return usageError(err, "missing command");
  const std::string_view first = argv[2];
  if (first == "--help" || first == "-h" || first == "help") {
    out << kUsage;
    return kBackupExitOk;
  }
  const auto command = commandNamed(first);
  if (!command) return usageError(err, fmt::format("unknown command \"{}\"", first));
  Arguments args;
  args.command = *command;
  args.command_name = std::string(first);
  std::vector<std::string> positional;
  bool saw_manifest = false, saw_to = false, saw_force = false, saw_timeout = false;
  for (int i = 3; i < argc; ++i) {
    const std::string_view arg = argv[i];
    // "--name VALUE" or "--name=VALUE"; nullopt when `arg` is not --name; "" when VALUE is missing.
    std::optional<std::string> missing_value;
    const auto valueOf = [&](std::string_view name) -> std::optional<std::string> {
      if (arg == name) {
        if (i + 1 < argc) return std::string(argv[++i]);
        missing_value = std::string(name);
        return std::string();
      }
      if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
        return std::string(arg.substr(name.size() + 1));
      }
      return std::nullopt;
    };
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return kBackupExitOk;
    }
    if (auto config = valueOf("--config")) {
      args.config_path = *config;
      args.config_given = true;
    } else if (auto to = valueOf("--to")) {
      args.to = *to;
      saw_to = true;
    } else if (auto timeout = valueOf("--timeout-s")) {
      saw_timeout = true;
      const auto seconds = parseInt(*timeout);
      if (!missing_value && (!seconds || *seconds < 1 || *seconds > kMaxTimeoutS)) {
        return usageError(err,
                          fmt::format("--timeout-s: must be an integer in [1, {}] (got \"{}\")",
                                      kMaxTimeoutS, *timeout));
      }
      if (seconds) args.timeout_s = *seconds;
    } else if (arg == "--manifest") {
      args.manifest = saw_manifest = true;
    } else if (arg == "--force") {
      args.force = saw_force = true;
    } else if (arg.starts_with("-") && arg.size() > 1) {
      return usageError(err, fmt::format("unknown option \"{}\"", arg));
    } else {
      positional.emplace_back(arg);
    }
    if (missing_value) return usageError(err, fmt::format("{} needs a value", *missing_value));
  }
  if (args.config_given && args.config_path.empty())
    return usageError(err, "--config needs a file");
  if (saw_to && args.to->empty()) return usageError(err, "--to needs a path");

  const auto refuse = [&](bool present, std::string_view option) -> std::optional<int> {
    if (!present) return std::nullopt;
    return usageError(err, fmt::format("{} does not take {}", args.command_name, option));
  };
  const bool takes_source = args.command == Command::Verify || args.command == Command::Restore;
  if (auto code = refuse(saw_manifest && args.command != Command::List, "--manifest")) return *code;
  if (auto code = refuse(saw_to && args.command != Command::Restore, "--to")) return *code;
  if (auto code = refuse(saw_force && args.command != Command::Restore, "--force")) return *code;
  if (auto code = refuse(saw_timeout && args.command != Command::Now, "--timeout-s")) return *code;
  if (takes_source) {
    if (positional.empty())
      return usageError(err, fmt::format("{} needs a SOURCE", args.command_name));
    if (positional.size() > 1) {
      return usageError(err, fmt::format("{} takes one SOURCE (got \"{}\" too)", args.command_name,
                                         positional[1]));
    }
    args.source = positional.front();
    if (args.source.starts_with("s3://")) {
      const std::string_view rest = std::string_view(args.source).substr(5);
      const auto slash = rest.find('/');
      if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size()) {
        return usageError(err, fmt::format("SOURCE \"{}\": expected s3://BUCKET/KEY", args.source));
      }
    }
  } else if (!positional.empty()) {
    return usageError(err, fmt::format("{} takes no argument (got \"{}\")", args.command_name,
                                       positional.front()));
  }
  return args;
}

// ---- configuration ----------------------------------------------------------------------------

struct Settings {
  ConfigSource source;
  PersisterConfig persister;
  BackupConfig backup;
  std::string http_host = "127.0.0.1";
  std::int64_t http_port = 3000;
};

Result<Settings> loadSettings(const Arguments& args, const ConfigSource::Environment& env) {
  std::string path = args.config_path;
  if (!args.config_given) {
    if (auto it = env.find("POINTTRON_CONFIG"); it != env.end()) path = it->second;
  }
  auto source = ConfigSource::load(path, env);
  if (!source) return source.error();
  Settings settings{.source = std::move(*source)};
  auto persister = PersisterConfig::parse(settings.source);
  if (!persister) return persister.error();
  settings.persister = std::move(*persister);
  auto backup = BackupConfig::parse(settings.source, settings.persister.data_dir);
  if (!backup) return backup.error();
  settings.backup = std::move(*backup);
  if (args.command == Command::Now) {
    auto host = settings.source.getString("http.listen_address", settings.http_host);
    if (!host) return host.error();
    settings.http_host = *host;
    auto port = settings.source.getInt("http.port", settings.http_port, 0, 65535);
    if (!port) return port.error();
    settings.http_port = *port;
  }
  // The pipeline's shared file carries the other processes' sections; only the persister's own
  // keys are checked here, as the stage checks them.
  for (const auto& key : settings.source.keys()) {
    const auto dot = key.find('.');
    if (dot == std::string::npos) continue;
    const std::string section = key.substr(0, dot);
    if (section != "persister" && section != "backup") settings.source.consumePrefix(section + ".");
  }
  if (auto unknown = settings.source.checkUnknown(); !unknown) return unknown.error();
  return settings;
}

// ---- files ------------------------------------------------------------------------------------

// Deletes the file when it goes out of scope.
class ScratchFile {
 public:
  explicit ScratchFile(std::string path) : path_(std::move(path)) {}
  ~ScratchFile() {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status makePrivateDirectory(const std::string& dir) {
  if (dir.empty()) return Status::ok();
  std::error_code error;
  if (fs::is_directory(dir, error)) return Status::ok();
  fs::create_directories(dir, error);
  if (error) return Status(ErrorType::Io, fmt::format("creating {}: {}", dir, error.message()));
  ::chmod(dir.c_str(), 0700);
  return Status::ok();
}

Status fsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Status(ErrorType::Io, fmt::format("opening {}: {}", dir, std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0)
    return Status(ErrorType::Io, fmt::format("fsync of {}: {}", dir, std::strerror(error)));
  return Status::ok();
}

std::string parentOf(const std::string& path) {
  const auto parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// ---- formatting -------------------------------------------------------------------------------

std::string isoUtc(std::int64_t ms) {
  const std::chrono::sys_time<std::chrono::milliseconds> at{std::chrono::milliseconds(ms)};
  const auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", seconds,
                     static_cast<int>((at - seconds).count()));
}

std::string heightText(const Manifest& manifest) {
  return manifest.highest_block_height ? std::to_string(*manifest.highest_block_height)
                                       : std::string("none (no block)");
}

// The figures of a manifest, one per line.
void printManifest(std::ostream& out, const std::string& label, const Manifest& manifest) {
  out << fmt::format("archive:         {}\n", label)
      << fmt::format("created:         {}\n", isoUtc(manifest.created_at_ms))
      << fmt::format("key:             {}\n", manifest.key_id)
      << fmt::format("schema version:  {}\n", manifest.schema_version)
      << fmt::format("highest height:  {}\n", heightText(manifest))
      << fmt::format("database:        {} bytes, sha256 {}\n", manifest.database_bytes,
                     manifest.database_sha256)
      << "rows:\n";
  std::size_t width = 0;
  for (const auto& [table, rows] : manifest.row_counts) width = std::max(width, table.size());
  for (const auto& [table, rows] : manifest.row_counts) {
    out << fmt::format("  {:<{}}  {}\n", table, width, rows);
  }
  out << fmt::format("kafka offsets:   {} partition{}\n", manifest.kafka_offsets.size(),
                     manifest.kafka_offsets.size() == 1 ? "" : "s");
  std::vector<std::string> partitions;
  width = 0;
  for (const auto& offset : manifest.kafka_offsets) {
    partitions.push_back(fmt::format("{}[{}]", offset.topic, offset.partition));
    width = std::max(width, partitions.back().size());
  }
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    out << fmt::format("  {:<{}}  next offset {}\n", partitions[i], width,
                       manifest.kafka_offsets[i].next_offset);
  }
}

// The figures of a manifest on one line (list --manifest).
std::string manifestLine(const Manifest& manifest) {
  std::string rows;
  for (const auto& [table, count] : manifest.row_counts) {
    rows += fmt::format("{}{}={}", rows.empty() ? "" : " ", table, count);
  }
  std::string offsets;
  for (const auto& offset : manifest.kafka_offsets) {
    offsets += fmt::format("{}{}[{}]={}", offsets.empty() ? "" : " ", offset.topic,
                           offset.partition, offset.next_offset);
  }
  return fmt::format(
      "schema {}, highest height {}, key {}, database {} bytes; rows: {}; kafka offsets: {}",
      manifest.schema_version, heightText(manifest), manifest.key_id, manifest.database_bytes,
      rows.empty() ? "none" : rows, offsets.empty() ? "none" : offsets);
}

// ---- sources ----------------------------------------------------------------------------------

// An archive available as a local file: the SOURCE itself, or a copy fetched into work_dir.
struct LocalArchive {
  std::string path;
  std::string label;  // the SOURCE as given, or "<target>/<name>"
  std::unique_ptr<ScratchFile> fetched;
};

std::string fetchPath(const Settings& settings, std::string_view what) {
  return (fs::path(settings.backup.work_dir) / fmt::format("fetched-{}-{}", ::getpid(), what))
      .string();
}

Result<LocalArchive> fetchFromS3(const std::string& source, const Settings& settings) {
  if (!settings.backup.s3) {
    return Error{ErrorType::InvalidConfig,
                 fmt::format("backup.s3.bucket: not set: {} is read with the backup.s3.* endpoint "
                             "and credentials",
                             source)};
  }
  const std::string_view rest = std::string_view(source).substr(5);
  const auto slash = rest.find('/');
  S3Config config = *settings.backup.s3;
  config.bucket = std::string(rest.substr(0, slash));
  config.prefix.clear();
  const std::string key(rest.substr(slash + 1));
  if (auto made = makePrivateDirectory(settings.backup.work_dir); !made) return made.error();
  LocalArchive archive{.path = fetchPath(settings, "s3.ptbk"), .label = source, .fetched = nullptr};
  archive.fetched = std::make_unique<ScratchFile>(archive.path);
  S3Client client(std::move(config));
  if (auto got = client.getToFile(key, archive.path); !got) return got.error();
  return archive;
}

Result<LocalArchive> fetchByName(const std::string& name, const Settings& settings) {
  std::string problems;
  for (const auto& target : settings.backup.targets()) {
    auto stored = target->list();
    if (!stored) {
      problems += fmt::format("; {}: {}", target->describe(), stored.error().message);
      continue;
    }
    const bool here = std::any_of(stored->begin(), stored->end(),
                                  [&](const StoredBackup& backup) { return backup.name == name; });
    if (!here) continue;
    if (auto made = makePrivateDirectory(settings.backup.work_dir); !made) return made.error();
    LocalArchive archive{.path = fetchPath(settings, name),
                         .label = fmt::format("{}/{}", target->describe(), name),
                         .fetched = nullptr};
    archive.fetched = std::make_unique<ScratchFile>(archive.path);
    if (auto got = target->download(name, archive.path); !got) {
      return Error{got.error().type, fmt::format("{}: {}", archive.label, got.error().message)};
    }
    return archive;
  }
  return Error{
      ErrorType::Io,
      fmt::format("{}: no configured target holds an archive of that name{}", name, problems)};
}

Result<LocalArchive> fetchSource(const std::string& source, const Settings& settings) {
  if (source.starts_with("s3://")) return fetchFromS3(source, settings);
  std::error_code error;
  if (fs::exists(source, error)) {
    return LocalArchive{.path = source, .label = source, .fetched = nullptr};
  }
  if (source.find('/') == std::string::npos && archiveTime(source))
    return fetchByName(source, settings);
  return Error{ErrorType::Io, fmt::format("{}: no such file (nor an archive name such as "
                                          "pointtron-20261126T030405123Z.ptbk)",
                                          source)};
}

int exitFor(const Error& error) {
  return error.type == ErrorType::InvalidConfig ? kBackupExitConfig : kBackupExitFailed;
}

// ---- list -------------------------------------------------------------------------------------

int runList(const Arguments& args, const Settings& settings, std::ostream& out, std::ostream& err) {
  std::optional<Keyring> keyring;
  if (args.manifest) {
    auto loaded = settings.backup.loadKeyring();
    if (!loaded) {
      err << kProgram << ": " << loaded.error().message << "\n";
      return kBackupExitConfig;
    }
    keyring.emplace(std::move(*loaded));
  }
  struct Row {
    BackupTarget* target;
    std::size_t target_index;
    StoredBackup backup;
  };
  const auto targets = settings.backup.targets();
  std::vector<Row> rows;
  bool failed = false;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto stored = targets[i]->list();
    if (!stored) {
      err << fmt::format("{}: listing failed: {}\n", targets[i]->describe(),
                         stored.error().message);
      failed = true;
      continue;
    }
    if (stored->empty()) out << fmt::format("{}: no backups\n", targets[i]->describe());
    for (auto& backup : *stored) rows.push_back({targets[i].get(), i, std::move(backup)});
  }
  if (!rows.empty()) {
    std::size_t target_width = 6, name_width = 4, bytes_width = 5;
    for (const auto& row : rows) {
      target_width = std::max(target_width, row.target->describe().size());
      name_width = std::max(name_width, row.backup.name.size());
      bytes_width = std::max(bytes_width, std::to_string(row.backup.bytes).size());
    }
    out << fmt::format("{:<{}}  {:<{}}  {:>{}}  {}\n", "TARGET", target_width, "NAME", name_width,
                       "BYTES", bytes_width, "CREATED");
    // The directory target comes first in BackupConfig::targets(): its archives are read in place.
    const bool has_directory = !settings.backup.directory.empty();
    for (const auto& row : rows) {
      out << fmt::format("{:<{}}  {:<{}}  {:>{}}  {}\n", row.target->describe(), target_width,
                         row.backup.name, name_width, row.backup.bytes, bytes_width,
                         isoUtc(row.backup.created_at_ms));
      if (!keyring) continue;
      std::string path;
      std::unique_ptr<ScratchFile> fetched;
      if (has_directory && row.target_index == 0) {
        path = (fs::path(settings.backup.directory) / row.backup.name).string();
      } else if (auto made = makePrivateDirectory(settings.backup.work_dir); !made) {
        err << fmt::format("  manifest: {}\n", made.error().message);
        failed = true;
        continue;
      } else {
        path = fetchPath(settings, row.backup.name);
        fetched = std::make_unique<ScratchFile>(path);
        if (auto got = row.target->download(row.backup.name, path); !got) {
          out << fmt::format("  manifest: unreadable: {}\n", got.error().message);
          failed = true;
          continue;
        }
      }
      auto manifest = readManifest(path, *keyring);
      if (!manifest) {
        out << fmt::format("  manifest: unreadable: {}\n", manifest.error().message);
        failed = true;
      } else {
        out << fmt::format("  manifest: {}\n", manifestLine(*manifest));
      }
    }
  }
  return failed ? kBackupExitFailed : kBackupExitOk;
}

// ---- verify -----------------------------------------------------------------------------------

int runVerify(const Arguments& args, const Settings& settings, const Keyring& keyring,
              std::ostream& out, std::ostream& err) {
  auto archive = fetchSource(args.source, settings);
  if (!archive) {
    err << "verify failed: " << archive.error().message << "\n";
    return exitFor(archive.error());
  }
  auto manifest = verifyArchiveFile(archive->path, keyring, settings.backup.work_dir);
  if (!manifest) {
    err << "verify failed: " << manifest.error().message << "\n";
    return kBackupExitFailed;
  }
  printManifest(out, archive->label, *manifest);
  out << "OK\n";
  return kBackupExitOk;
}

// ---- restore ----------------------------------------------------------------------------------

// SQLite's companions of a database file: a stale one would be applied to the restored database.
std::vector<std::string> companionsOf(const std::string& path) {
  return {path + "-wal", path + "-shm", path + "-journal"};
}

// True when another connection (the running persister, an API reader) has `path` open: every
// connection to a WAL database holds a shared lock on it, so an exclusive lock cannot be had.
bool databaseInUse(const std::string& path) {
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, sqlite3_close_v2);
  if (opened != SQLITE_OK) return false;  // not a database we can open: nothing uses it as one
  sqlite3_busy_timeout(db.get(), 0);
  const int rc = sqlite3_exec(db.get(), "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; ROLLBACK;",
                              nullptr, nullptr, nullptr);
  return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

// rename(2) that fails with EEXIST rather than replace `to` (where the file system allows).
int renameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  std::error_code error;
  if (fs::exists(to, error)) {
    errno = EEXIST;
    return -1;
  }
  return ::rename(from.c_str(), to.c_str());
}

int runRestore(const Arguments& args, const Settings& settings, const Keyring& keyring,
               std::ostream& out, std::ostream& err) {
  const std::string target = args.to.value_or(settings.persister.db_path);
  std::error_code error;
  if (fs::is_directory(target, error)) {
    err << fmt::format("restore refused: {} is a directory; --to names the database file\n",
                       target);
    return kBackupExitFailed;
  }
  std::vector<std::string> present;
  if (fs::exists(target, error)) present.push_back(target);
  for (const auto& companion : companionsOf(target)) {
    if (fs::exists(companion, error)) present.push_back(companion);
  }
  if (!present.empty() && !args.force) {
    std::string names;
    for (const auto& name : present) names += (names.empty() ? "" : ", ") + name;
    err << fmt::format(
        "restore refused: {} exist{}; stop the persister and pass --force to "
        "replace {}\n",
        names, present.size() == 1 ? "s" : "", present.size() == 1 ? "it" : "them");
    return kBackupExitFailed;
  }

  auto archive = fetchSource(args.source, settings);
  if (!archive) {
    err << "restore failed: " << archive.error().message << "\n";
    return exitFor(archive.error());
  }
  const std::string directory = parentOf(target);
  if (auto made = makePrivateDirectory(directory); !made) {
    err << "restore failed: " << made.error().message << "\n";
    return kBackupExitFailed;
  }
  // Extracted next to the target, so the final step is a rename within one file system.
  const std::string temp = target + ".restore.tmp";
  ScratchFile temp_guard(temp);
  for (const auto& stale : {temp, temp + ".tmp"}) fs::remove(stale, error);
  auto manifest = extractArchive(archive->path, keyring, temp);
  if (!manifest) {
    err << "verify failed: " << manifest.error().message << "\n";
    return kBackupExitFailed;
  }
  if (auto verified = verifyDatabase(temp, *manifest); !verified) {
    err << fmt::format("verify failed: {}: {}\n", archive->label, verified.error().message);
    return kBackupExitFailed;
  }

  if (args.force) {
    if (fs::exists(target, error) && databaseInUse(target)) {
      err << fmt::format(
          "restore refused: {} is open in another process (is the persister "
          "running?); stop it first\n",
          target);
      return kBackupExitFailed;
    }
    for (const auto& companion : companionsOf(target)) {
      if (::unlink(companion.c_str()) != 0 && errno != ENOENT) {
        err << fmt::format("restore failed: deleting {}: {}\n", companion, std::strerror(errno));
        return kBackupExitFailed;
      }
    }
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      err << fmt::format("restore failed: renaming {} to {}: {}\n", temp, target,
                         std::strerror(errno));
      return kBackupExitFailed;
    }
  } else if (renameNoReplace(temp, target) != 0) {
    const int error_number = errno;
    if (error_number == EEXIST) {
      err << fmt::format("restore refused: {} appeared meanwhile; pass --force to replace it\n",
                         target);
    } else {
      err << fmt::format("restore failed: renaming {} to {}: {}\n", temp, target,
                         std::strerror(error_number));
    }
    return kBackupExitFailed;
  }
  if (auto synced = fsyncDirectory(directory); !synced) {
    err << "restore failed: " << synced.error().message << "\n";
    return kBackupExitFailed;
  }
  printManifest(out, archive->label, *manifest);
  out << fmt::format("restored to {}\n", target);
  out << fmt::format(
      "start the persister: it resumes from the Kafka offsets in the backup ({} "
      "partition{}) and replays what came after\n",
      manifest->kafka_offsets.size(), manifest->kafka_offsets.size() == 1 ? "" : "s");
  return kBackupExitOk;
}

// ---- drill ------------------------------------------------------------------------------------

int runDrill(const Settings& settings, const Keyring& keyring, std::ostream& out,
             std::ostream& err) {
  int failures = 0;
  const auto targets = settings.backup.targets();
  for (const auto& target : targets) {
    auto manifest = drill(*target, keyring, settings.backup.work_dir);
    if (manifest) {
      out << fmt::format(
          "{}: ok: newest archive (created {}, highest height {}) restores and "
          "verifies\n",
          target->describe(), isoUtc(manifest->created_at_ms), heightText(*manifest));
    } else {
      ++failures;
      err << fmt::format("{}: drill failed: {}\n", target->describe(), manifest.error().message);
    }
  }
  if (failures > 0) {
    err << fmt::format("drill failed at {} of {} target{}\n", failures, targets.size(),
                       targets.size() == 1 ? "" : "s");
    return kBackupExitFailed;
  }
  return kBackupExitOk;
}

// ---- create -----------------------------------------------------------------------------------

int runCreate(const Settings& settings, const Keyring& keyring, const BackupCommandDeps& deps,
              std::ostream& out, std::ostream& err) {
  if (!std::filesystem::exists(settings.persister.db_path)) {
    err << fmt::format("{}: no database at {}\n", kProgram, settings.persister.db_path);
    return kBackupExitFailed;
  }
  const auto targets = settings.backup.targets();
  const auto plan = settings.backup.plan(settings.persister.db_path, settings.persister.busy_timeout_ms);
  auto result = runBackup(plan, keyring, targets, deps.wall_ms(), [](std::chrono::milliseconds delay) {
    std::this_thread::sleep_for(delay);  // between upload retries; nothing else runs here
    return true;
  });
  if (const auto* failure = std::get_if<BackupFailure>(&result)) {
    err << fmt::format("{}: backup failed at {}: {}\n", kProgram, failureReasonName(failure->reason),
                       failure->error.message);
    return kBackupExitFailed;
  }
  const auto& report = std::get<BackupReport>(result);
  out << fmt::format("{}: {} bytes in {:.1f} s, highest height {}\n", report.name, report.archive.bytes,
                     report.seconds, heightText(report.manifest));
  for (const auto& location : report.locations) out << "stored and read back: " << location << "\n";
  for (const auto& pruned : report.pruned) out << "pruned: " << pruned << "\n";
  for (const auto& warning : report.warnings) err << "warning: " << warning << "\n";
  return kBackupExitOk;
}

// ---- now --------------------------------------------------------------------------------------

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t appendBody(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  try {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
  } catch (...) {
    return 0;  // curl reports a write error
  }
}

Result<HttpReply> curlCall(std::string_view method, const std::string& url,
                           const std::string& token) {
  initCurlOnce();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), curl_easy_cleanup);
  if (!easy) return Error{ErrorType::Internal, "curl_easy_init failed"};
  const std::string authorization = "Authorization: Bearer " + token;
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, authorization.c_str()), curl_slist_free_all);
  if (!headers) return Error{ErrorType::Internal, "curl_slist_append failed"};
  HttpReply reply;
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* handle = easy.get();
  bool ok = curl_easy_setopt(handle, CURLOPT_URL, url.c_str()) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_PROXY, "") == CURLE_OK;  // never via http_proxy
  ok = ok && curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, kRequestTimeoutMs) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &appendBody) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_WRITEDATA, &reply.body) == CURLE_OK;
  ok = ok && curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer) == CURLE_OK;
  if (method == "POST") {
    ok = ok && curl_easy_setopt(handle, CURLOPT_POST, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "") == CURLE_OK;
    ok = ok && curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK;
  }
  if (!ok) return Error{ErrorType::Internal, "curl_easy_setopt failed"};
  const CURLcode rc = curl_easy_perform(handle);
  if (rc != CURLE_OK) {
    const std::string reason = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    return Error{rc == CURLE_OPERATION_TIMEDOUT ? ErrorType::Timeout : ErrorType::Http,
                 fmt::format("{} {}: {}", method, url, reason)};
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

// The "error" of an API error answer, or the body's start when it has none.
std::string apiError(const HttpReply& reply) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view message;
  if (parser.parse(reply.body).get(root) == simdjson::SUCCESS &&
      root["error"].get_string().get(message) == simdjson::SUCCESS) {
    return std::string(message);
  }
  return reply.body.substr(0, 200);
}

struct LastBackup {
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> finished_at_ms;
  std::string status;
  std::string location;
  std::optional<std::uint64_t> size_bytes;
  std::string sha256;
  std::optional<bool> verified;
  std::string error;
};

struct BackupsAnswer {
  bool in_progress = false;
  std::optional<LastBackup> last;
};

// GET /api/backups: data.in_progress, and data.last when not null. Other fields are optional.
Result<BackupsAnswer> parseBackupsAnswer(const std::string& body) {
  const auto bad = [](std::string_view what) {
    return Error{ErrorType::InvalidPayload, fmt::format("GET /api/backups: {}", what)};
  };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) return bad("not JSON");
  simdjson::dom::object data;
  if (root["data"].get_object().get(data) != simdjson::SUCCESS) return bad("no data object");
  BackupsAnswer answer;
  if (data["in_progress"].get_bool().get(answer.in_progress) != simdjson::SUCCESS) {
    return bad("data.in_progress is not a boolean");
  }
  simdjson::dom::element last_element;
  if (data["last"].get(last_element) != simdjson::SUCCESS || last_element.is_null()) return answer;
  simdjson::dom::object last;
  if (last_element.get_object().get(last) != simdjson::SUCCESS)
    return bad("data.last is not an object");
  LastBackup out;
  if (last["started_at_ms"].get_int64().get(out.started_at_ms) != simdjson::SUCCESS) {
    return bad("data.last.started_at_ms is not an integer");
  }
  std::string_view text;
  if (last["status"].get_string().get(text) != simdjson::SUCCESS) {
    return bad("data.last.status is not a string");
  }
  out.status = std::string(text);
  std::int64_t number = 0;
  if (last["finished_at_ms"].get_int64().get(number) == simdjson::SUCCESS)
    out.finished_at_ms = number;
  std::uint64_t size = 0;
  if (last["size_bytes"].get_uint64().get(size) == simdjson::SUCCESS) out.size_bytes = size;
  bool verified = false;
  if (last["verified"].get_bool().get(verified) == simdjson::SUCCESS) out.verified = verified;
  if (last["location"].get_string().get(text) == simdjson::SUCCESS)
    out.location = std::string(text);
  if (last["sha256"].get_string().get(text) == simdjson::SUCCESS) out.sha256 = std::string(text);
  if (last["error"].get_string().get(text) == simdjson::SUCCESS) out.error = std::string(text);
  answer.last = std::move(out);
  return answer;
}

// "http://127.0.0.1:3000": the address the persister listens on, a wildcard read as loopback.
std::string apiBase(const std::string& host, std::int64_t port) {
  std::string connect = host;
  if (connect.empty() || connect == "0.0.0.0") connect = "127.0.0.1";
  if (connect == "::" || connect == "[::]") connect = "::1";
  if (connect.find(':') != std::string::npos && !connect.starts_with("["))
    connect = "[" + connect + "]";
  return fmt::format("http://{}:{}", connect, port);
}

// The token the running persister accepts, never creating one (that is the persister's job).
Result<std::string> apiToken(const Settings& settings) {
  if (!settings.persister.api_tokens.empty()) return settings.persister.api_tokens.front();
  const std::string file = (fs::path(settings.persister.data_dir) / "api_token").string();
  std::error_code error;
  if (!fs::exists(file, error)) {
    return Error{ErrorType::Unavailable,
                 fmt::format("no API token: is the persister running? ({} does not exist and "
                             "persister.api_tokens is not set)",
                             file)};
  }
  auto tokens = resolveApiTokens({}, settings.persister.data_dir);
  if (!tokens) return tokens.error();
  if (tokens->tokens.empty())
    return Error{ErrorType::InvalidConfig, fmt::format("{} is empty", file)};
  return tokens->tokens.front();
}

std::string describeLast(const LastBackup& last) {
  std::string text = fmt::format("backup {}", last.status);
  if (!last.location.empty()) text += fmt::format(": {}", last.location);
  if (last.size_bytes) text += fmt::format(", {} bytes", *last.size_bytes);
  if (!last.sha256.empty()) text += fmt::format(", sha256 {}", last.sha256);
  if (last.verified) text += *last.verified ? ", verified" : ", NOT verified";
  if (last.finished_at_ms) {
    text += fmt::format(", {:.1f} s",
                        static_cast<double>(*last.finished_at_ms - last.started_at_ms) / 1000.0);
  }
  if (!last.error.empty()) text += fmt::format(": {}", last.error);
  return text;
}

int runNow(const Arguments& args, const Settings& settings, const BackupCommandDeps& deps,
           std::ostream& out, std::ostream& err) {
  if (settings.http_port == 0) {
    err << kProgram
        << ": http.port: 0 (an ephemeral port) gives no address to reach the running "
           "persister at\n";
    return kBackupExitConfig;
  }
  auto token = apiToken(settings);
  if (!token) {
    err << kProgram << ": " << token.error().message << "\n";
    return exitFor(token.error());
  }
  const HttpCall http = deps.http ? deps.http : HttpCall(curlCall);
  const std::function<void(std::chrono::milliseconds)> sleep =
      deps.sleep ? deps.sleep
                 : [](std::chrono::milliseconds delay) { std::this_thread::sleep_for(delay); };
  const std::string url = apiBase(settings.http_host, settings.http_port) + "/api/backups";

  const std::int64_t requested_at_ms = deps.wall_ms();
  const std::int64_t deadline_ms = requested_at_ms + args.timeout_s * 1000;
  auto posted = http("POST", url, *token);
  if (!posted) {
    err << fmt::format("{}: cannot reach the persister: {}: is it running?\n", kProgram,
                       posted.error().message);
    return kBackupExitFailed;
  }
  if (posted->status == 401 || posted->status == 403) {
    err << fmt::format("{}: the persister refused the API token (HTTP {}): {}\n", kProgram,
                       posted->status, apiError(*posted));
    return kBackupExitFailed;
  }
  if (posted->status != 202 && posted->status != 200) {
    err << fmt::format("{}: the persister did not start a backup (HTTP {}): {}\n", kProgram,
                       posted->status, apiError(*posted));
    return kBackupExitFailed;
  }
  out << fmt::format("backup requested at {}; waiting up to {} s for it\n", url, args.timeout_s);

  int consecutive_failures = 0;
  std::string last_problem;
  while (true) {
    auto got = http("GET", url, *token);
    if (got && got->status == 200) {
      auto answer = parseBackupsAnswer(got->body);
      if (!answer) {
        err << kProgram << ": " << answer.error().message << "\n";
        return kBackupExitFailed;
      }
      consecutive_failures = 0;
      if (!answer->in_progress && answer->last && answer->last->started_at_ms >= requested_at_ms) {
        const auto& last = *answer->last;
        if (last.status == "succeeded") {
          out << describeLast(last) << "\n";
          return kBackupExitOk;
        }
        err << describeLast(last) << "\n";
        return kBackupExitFailed;
      }
      if (!answer->in_progress) {
        last_problem = "the persister reports no backup in progress and none since the request";
      }
    } else {
      last_problem = got ? fmt::format("GET {}: HTTP {}: {}", url, got->status, apiError(*got))
                         : got.error().message;
      if (got && (got->status == 401 || got->status == 403)) {
        err << kProgram << ": " << last_problem << "\n";
        return kBackupExitFailed;
      }
      if (++consecutive_failures >= kMaxConsecutivePollFailures) {
        err << fmt::format("{}: lost the persister while waiting: {}\n", kProgram, last_problem);
        return kBackupExitFailed;
      }
    }
    const std::int64_t now_ms = deps.wall_ms();
    if (now_ms >= deadline_ms) break;
    sleep(std::min(kPollInterval, std::chrono::milliseconds(deadline_ms - now_ms)));
  }
  err << fmt::format(
      "{}: no result after {} s (the backup may still be running; GET {} shows "
      "it){}\n",
      kProgram, args.timeout_s, url, last_problem.empty() ? "" : ": last answer: " + last_problem);
  return kBackupExitFailed;
}

int run(const Arguments& args, const ConfigSource::Environment& env, const BackupCommandDeps& deps,
        std::ostream& out, std::ostream& err) {
  auto settings = loadSettings(args, env);
  if (!settings) {
    err << kProgram << ": " << settings.error().message << "\n";
    return exitFor(settings.error());
  }
  switch (args.command) {
    case Command::List:
      return runList(args, *settings, out, err);
    case Command::Now:
      return runNow(args, *settings, deps, out, err);
    case Command::Verify:
    case Command::Restore:
    case Command::Drill:
    case Command::Create:
      break;
  }
  auto keyring = settings->backup.loadKeyring();
  if (!keyring) {
    err << kProgram << ": " << keyring.error().message << "\n";
    return kBackupExitConfig;
  }
  switch (args.command) {
    case Command::Verify:
      return runVerify(args, *settings, *keyring, out, err);
    case Command::Restore:
      return runRestore(args, *settings, *keyring, out, err);
    case Command::Create:
      return runCreate(*settings, *keyring, deps, out, err);
    default:
      return runDrill(*settings, *keyring, out, err);
  }
}

}  // namespace

std::string_view backupCommandUsage() noexcept { return kUsage; }

std::optional<int> runBackupCommand(int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, const ConfigSource::Environment& env,
                                    std::function<std::int64_t()> wall_ms) {
  return runBackupCommand(
      argc, argv, out, err, env,
      BackupCommandDeps{.wall_ms = std::move(wall_ms), .http = {}, .sleep = {}});
}

std::optional<int> runBackupCommand(int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, const ConfigSource::Environment& env,
                                    const BackupCommandDeps& deps) {
  if (argc < 2 || std::string_view(argv[1]) != "backup") return std::nullopt;
  try {
    auto parsed = parseArguments(argc, argv, out, err);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    return run(std::get<Arguments>(parsed), env, deps, out, err);
  } catch (const std::exception& e) {
    // Library code reports through Status; this catches what a third party throws (bad_alloc,
    // filesystem_error) so that a command never dies with an uncaught exception.
    err << kProgram << ": internal error: " << e.what() << "\n";
    return kBackupExitFailed;
  }
}

}  // namespace stages::persister::backup
