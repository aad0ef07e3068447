#include "tests/integration/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace testsupport {
namespace {

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn with stdout optionally redirected; returns the pid or -1 (errno-like in `error`).
pid_t spawnWith(const std::vector<std::string>& argv, std::vector<std::string> env,
                int stdout_fd, int& error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  std::vector<std::string> args = argv;
  auto arg_pointers = pointers(args);
  auto env_pointers = pointers(env);
  pid_t pid = -1;
  error = posix_spawn(&pid, args[0].c_str(), &actions, nullptr, arg_pointers.data(),
                      env_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  return error == 0 ? pid : -1;
}

std::vector<std::string> currentEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  return env;
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return nullptr;
  }
  int error = 0;
  const pid_t pid = spawnWith(argv, currentEnvironment(), fds[1], error);
  ::close(fds[1]);  // only the child writes: EOF arrives when it exits
  if (pid < 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(error);
    return nullptr;
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, fds[0]));
}

ChildProcess::ChildProcess(pid_t pid, int stdout_fd)
    : pid_(pid), stdout_fd_(stdout_fd), reader_([this] { readLoop(); }) {}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  reader_.join();  // the child's death closed the pipe, so the read loop ends
  ::close(stdout_fd_);
}

void ChildProcess::readLoop() {
  std::string partial;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(stdout_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buffer, static_cast<std::size_t>(n));
    std::deque<std::string> complete;
    std::size_t start = 0;
    for (std::size_t end; (end = partial.find('\n', start)) != std::string::npos; start = end + 1) {
      complete.push_back(partial.substr(start, end - start));
    }
    partial.erase(0, start);
    if (complete.empty()) continue;
    std::lock_guard lock(mutex_);
    for (auto& line : complete) lines_.push_back(std::move(line));
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  if (!partial.empty()) lines_.push_back(std::move(partial));
  eof_ = true;
  changed_.notify_all();
}

bool ChildProcess::readUntil(const std::function<bool(std::string_view line)>& on_line,
                             std::chrono::milliseconds deadline) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!lines_.empty()) {
      std::string line = std::move(lines_.front());
      lines_.pop_front();
      if (on_line(line)) return true;
    }
    if (eof_) return false;
    if (changed_.wait_until(lock, give_up) == std::cv_status::timeout && lines_.empty()) {
      return false;
    }
  }
}

bool ChildProcess::readToEnd(const std::function<void(std::string_view line)>& on_line,
                             std::chrono::milliseconds deadline) {
  readUntil(
      [&](std::string_view line) {
        on_line(line);
        return false;
      },
      deadline);
  std::lock_guard lock(mutex_);
  return eof_ && lines_.empty();
}

void ChildProcess::signal(int signum) {
  if (!reaped_) ::kill(pid_, signum);
}

std::optional<int> ChildProcess::waitExit(std::chrono::milliseconds deadline) {
  if (reaped_) return std::nullopt;
  bool ended = false;
  {
    std::unique_lock lock(mutex_);
    ended = changed_.wait_for(lock, deadline, [this] { return eof_; });
  }
  if (!ended) ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return std::nullopt;
  }
  reaped_ = true;
  if (!ended) return std::nullopt;
  return status;
}

int runCommand(const std::vector<std::string>& argv,
               const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> env;
  for (auto& entry : currentEnvironment()) {
    const auto name = entry.substr(0, entry.find('='));
    if (!extra_env.contains(name)) env.push_back(entry);
  }
  for (const auto& [name, value] : extra_env) env.push_back(name + "=" + value);
  int error = 0;
  const pid_t pid = spawnWith(argv, std::move(env), -1, error);
  if (pid < 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(error);
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace testsupport
