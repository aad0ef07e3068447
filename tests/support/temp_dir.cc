#include "tests/support/temp_dir.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

namespace testsupport {

TempDir::TempDir(std::string_view name) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / fmt::format("pointtron-{}-XXXXXX", name)).string();
  if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::file(std::string_view name) const {
  return (std::filesystem::path(path_) / name).string();
}

std::string TempDir::write(std::string_view name, std::string_view text) const {
  const std::string path = file(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace testsupport
