#pragma once

#include <string>
#include <string_view>

namespace testsupport {

/** A fresh directory under $TMPDIR (else /tmp), removed with everything in it. */
class TempDir {
 public:
  /** `name` goes into the directory's name, to tell the test that left one behind. */
  explicit TempDir(std::string_view name = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /** False when the directory could not be created (path() is then empty). */
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const;
  /** Writes `text` to file(name) and returns that path. */
  std::string write(std::string_view name, std::string_view text) const;

 private:
  std::string path_;
};

}  // namespace testsupport
