#include "stages/persister/backup/backup_job.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "stages/persister/backup/snapshot.h"

namespace stages::persister::backup {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::Status;

Status prepareWorkDir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status(ErrorType::Io, fmt::format("creating {}: {}", dir, error.message()));
  ::chmod(dir.c_str(), 0700);
  return Status::ok();
}

// Deletes the file when it goes out of scope: snapshots and local archives never pile up.
class ScratchFile {
 public:
  explicit ScratchFile(std::string path) : path_(std::move(path)) {}
  ~ScratchFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// "<target>/<name>": for S3 also the SOURCE `pointtron backup verify|restore` takes.
std::string locationOf(const BackupTarget& target, const std::string& name) {
  const std::string where = target.describe();
  return where.ends_with('/') ? where + name : where + "/" + name;
}

bool retryable(const Error& error) {
  return error.type != ErrorType::InvalidConfig && error.type != ErrorType::InvalidArgument;
}

Status uploadWithRetries(BackupTarget& target, const std::string& local, const std::string& name,
                         const ArchiveInfo& info, const BackupPlan& plan, const RetryWait& wait) {
  auto delay = plan.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    auto uploaded = target.upload(local, name, info);
    if (uploaded || attempt >= plan.upload_attempts || !retryable(uploaded.error()) || !wait(delay)) {
      if (!uploaded) {
        return Status(uploaded.error().type, fmt::format("{} (after {} attempt{})", uploaded.error().message,
                                                          attempt, attempt == 1 ? "" : "s"));
      }
      return uploaded;
    }
    delay *= 2;
  }
}

}  // namespace

std::string_view failureReasonName(FailureReason reason) noexcept {
  switch (reason) {
    case FailureReason::Snapshot: return "snapshot";
    case FailureReason::Archive: return "archive";
    case FailureReason::Upload: return "upload";
    case FailureReason::Retention: return "retention";
  }
  return "unknown";
}

void runInBackground() noexcept {
  constexpr int kBackgroundNice = 10;
  // Linux: nice values are per thread; failure (e.g. a seccomp profile) only costs speed.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice);
}

std::variant<BackupReport, BackupFailure> runBackup(
    const BackupPlan& plan, const Keyring& keyring,
    const std::vector<std::unique_ptr<BackupTarget>>& targets, std::int64_t now_ms,
    const RetryWait& wait) {
  const auto started = std::chrono::steady_clock::now();
  if (auto prepared = prepareWorkDir(plan.work_dir); !prepared) {
    return BackupFailure{FailureReason::Snapshot, prepared.error()};
  }
  BackupReport report;
  report.name = archiveName(now_ms);
  const std::filesystem::path work(plan.work_dir);
  ScratchFile snapshot((work / (report.name + ".snapshot.db")).string());
  auto manifest = takeSnapshot(plan.db_path, snapshot.path(), now_ms, plan.busy_timeout_ms);
  if (!manifest) return BackupFailure{FailureReason::Snapshot, manifest.error()};
  manifest->key_id = keyring.current().id();
  ScratchFile archive((work / report.name).string());
  auto written = writeArchive(snapshot.path(), *manifest, keyring.current(), archive.path(), plan.archive);
  if (!written) return BackupFailure{FailureReason::Archive, written.error()};
  report.manifest = std::move(*manifest);
  report.archive = *written;

  for (const auto& target : targets) {
    auto uploaded = uploadWithRetries(*target, archive.path(), report.name, report.archive, plan, wait);
    if (!uploaded) {
      return BackupFailure{FailureReason::Upload,
                           Error{uploaded.error().type,
                                 fmt::format("{}: {}", target->describe(), uploaded.error().message)}};
    }
    report.locations.push_back(locationOf(*target, report.name));
  }
  for (const auto& target : targets) {
    auto stored = target->list();
    if (!stored) {
      report.warnings.push_back(fmt::format("retention at {}: {}", target->describe(), stored.error().message));
      continue;
    }
    for (const auto& name : prunable(*stored, plan.keep_last, plan.keep_daily_days, now_ms)) {
      if (name == report.name) continue;
      if (auto removed = target->remove(name); !removed) {
        report.warnings.push_back(
            fmt::format("retention at {}: deleting {}: {}", target->describe(), name, removed.error().message));
      } else {
        report.pruned.push_back(locationOf(*target, name));
      }
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

Result<Manifest> verifyArchiveFile(const std::string& archive_path, const Keyring& keyring,
                                   const std::string& work_dir) {
  if (auto prepared = prepareWorkDir(work_dir); !prepared) return prepared.error();
  ScratchFile restored(
      (std::filesystem::path(work_dir) / fmt::format("verify-{}.db", ::getpid())).string());
  auto manifest = extractArchive(archive_path, keyring, restored.path());
  if (!manifest) return manifest.error();
  if (auto verified = verifyDatabase(restored.path(), *manifest); !verified) {
    return Error{verified.error().type, fmt::format("{}: {}", archive_path, verified.error().message)};
  }
  return manifest;
}

Result<Manifest> drill(BackupTarget& target, const Keyring& keyring, const std::string& work_dir) {
  auto stored = target.list();
  if (!stored) return stored.error();
  if (stored->empty()) {
    return Error{ErrorType::Unavailable, fmt::format("{} holds no backup to drill", target.describe())};
  }
  if (auto prepared = prepareWorkDir(work_dir); !prepared) return prepared.error();
  const std::string& name = stored->back().name;
  ScratchFile fetched((std::filesystem::path(work_dir) / ("drill-" + name)).string());
  if (auto downloaded = target.download(name, fetched.path()); !downloaded) return downloaded.error();
  auto manifest = verifyArchiveFile(fetched.path(), keyring, work_dir);
  if (!manifest) {
    return Error{manifest.error().type, fmt::format("{}: {}", locationOf(target, name), manifest.error().message)};
  }
  return manifest;
}

}  // namespace stages::persister::backup
