#pragma once

#include <span>
#include <string_view>

namespace stages::persister {

/** One numbered schema migration: schemas/sqlite/<version>_<name>.sql. */
struct Migration {
  int version = 0;
  std::string_view name;
  std::string_view sql;
};

/**
 * The migrations compiled into this binary, in version order (generated from schemas/sqlite/ by
 * stages/persister/CMakeLists.txt). The last one's version is the newest schema the binary knows;
 * it refuses a database that is newer.
 */
std::span<const Migration> bundledMigrations();

}  // namespace stages::persister
