// The backup reader on arbitrary files: every byte of an archive is attacker-controlled once it
// sits on a remote target, so readManifest and extractArchive must reject anything that is not
// an intact archive of a configured key with an error — never crash, hang or write an output
// file unless the archive is intact. The seed is a real archive of the fuzz key, so mutations
// start inside the chunk and manifest parsers.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "stages/persister/backup/archive.h"
#include "stages/persister/backup/keyring.h"

namespace {

const stages::persister::backup::Keyring& keyring() {
  static const auto ring = [] {
    auto key = stages::persister::backup::keyFromHex("fuzz", std::string(64, 'a'));
    return *stages::persister::backup::Keyring::create({*key}, "fuzz");
  }();
  return ring;
}

const std::string& workDir() {
  static const std::string dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "backup-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string archive = workDir() + "/input.ptbk";
  const std::string database = workDir() + "/out.db";
  {
    std::ofstream out(archive, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  (void)stages::persister::backup::readManifest(archive, keyring());
  auto extracted = stages::persister::backup::extractArchive(archive, keyring(), database);
  // Refused: nothing may have been written. Accepted (the intact seed): the database is there.
  if (extracted.has_value() != std::filesystem::exists(database)) std::abort();
  std::filesystem::remove(database);
  return 0;
}
