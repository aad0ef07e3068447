#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace stages::decoder {

/** A file of tests/fixtures/tron-blocks/, byte for byte. */
inline std::string readFixture(const std::string& name) {
  std::ifstream in(std::string(POINTTRON_SOURCE_DIR) + "/tests/fixtures/tron-blocks/" + name,
                   std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace stages::decoder
