#include "stages/persister/backup/keyring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/stages/persister/test_data.h"

namespace stages::persister::backup {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using pipeline::ErrorType;
using stages::persister::testing::TempDir;

constexpr const char* kHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

void writeFile(const std::string& path, const std::string& content, std::filesystem::perms mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  std::filesystem::permissions(path, mode, std::filesystem::perm_options::replace);
}

constexpr auto kOwnerOnly =
    std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;

bool sameBytes(const BackupKey& a, const BackupKey& b) {
  return std::memcmp(a.bytes(), b.bytes(), BackupKey::kSize) == 0;
}

// 64 hex digits give the 32 bytes they spell, in either case and with surrounding whitespace.
TEST(KeyringTest, KeyFromHexDecodesBothCases) {
  auto lower = keyFromHex("k1", kHex);
  ASSERT_TRUE(lower) << lower.error().message;
  EXPECT_EQ("k1", lower->id());
  for (std::size_t i = 0; i < BackupKey::kSize; ++i) EXPECT_EQ(i, lower->bytes()[i]);
  std::string upper = kHex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto decoded = keyFromHex("k1", " \n" + upper + "\t\n");
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(sameBytes(*lower, *decoded));
}

// Hex of the wrong length or with a non-hex digit is refused, and the message never quotes it.
TEST(KeyringTest, KeyFromHexRefusesBadHexWithoutQuotingIt) {
  const std::string hex = kHex;
  for (const std::string& bad : {hex.substr(1), hex + "0", "g" + hex.substr(1), std::string(),
                                 hex.substr(0, 32) + " " + hex.substr(32)}) {
    SCOPED_TRACE(bad);
    auto key = keyFromHex("k1", bad);
    ASSERT_FALSE(key);
    EXPECT_EQ(ErrorType::InvalidConfig, key.error().type);
    EXPECT_THAT(key.error().message, HasSubstr("'k1'"));
    if (bad.size() > 8) {
      EXPECT_THAT(key.error().message, Not(HasSubstr(bad.substr(8, 16))));
    }
  }
}

// Key ids are 1-64 characters of [A-Za-z0-9._-]; anything else is refused.
TEST(KeyringTest, RefusesInvalidKeyIds) {
  EXPECT_TRUE(isValidKeyId("prod-2026.01_a"));
  EXPECT_TRUE(isValidKeyId(std::string(64, 'a')));
  for (const std::string& id : {std::string(), std::string(65, 'a'), std::string("a/b"),
                                std::string("a b"), std::string("k\xc3\xa9"),
                                std::string("k'1")}) {
    SCOPED_TRACE(id);
    EXPECT_FALSE(isValidKeyId(id));
    auto key = keyFromHex(id, kHex);
    ASSERT_FALSE(key);
    EXPECT_EQ(ErrorType::InvalidConfig, key.error().type);
  }
}

// fromBytes takes exactly 32 bytes; generate() gives distinct random keys.
TEST(KeyringTest, FromBytesNeedsThirtyTwoBytesAndGenerateIsRandom) {
  const std::vector<unsigned char> short_key(31, 7);
  EXPECT_FALSE(BackupKey::fromBytes("k1", short_key));
  auto a = BackupKey::generate("a");
  auto b = BackupKey::generate("b");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(sameBytes(*a, *b));
  auto copy = BackupKey::fromBytes("c", std::span(a->bytes(), BackupKey::kSize));
  ASSERT_TRUE(copy);
  EXPECT_TRUE(sameBytes(*a, *copy));
}

// A key file of mode 0600 is read as hex (whitespace trimmed) or as 32 raw bytes.
TEST(KeyringTest, LoadsHexAndRawKeyFiles) {
  TempDir dir;
  const std::string hex_path = dir.file("hex.key");
  writeFile(hex_path, std::string(kHex) + "\n", kOwnerOnly);
  auto from_hex = loadKeyFile(hex_path, "k1");
  ASSERT_TRUE(from_hex) << from_hex.error().message;
  EXPECT_EQ("k1", from_hex->id());
  EXPECT_TRUE(sameBytes(*keyFromHex("k1", kHex), *from_hex));

  std::string raw(BackupKey::kSize, '\0');
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(0xff - i);
  raw[3] = '\n';  // raw bytes that look like whitespace are still key bytes
  const std::string raw_path = dir.file("raw.key");
  writeFile(raw_path, raw, kOwnerOnly);
  auto from_raw = loadKeyFile(raw_path, "k2");
  ASSERT_TRUE(from_raw) << from_raw.error().message;
  EXPECT_EQ(0, std::memcmp(raw.data(), from_raw->bytes(), BackupKey::kSize));
}

// A key file group or others may access is refused with its path (and mode), never its content;
// the same file at 0600 is accepted.
TEST(KeyringTest, RefusesKeyFilesOthersCanAccess) {
  TempDir dir;
  const std::string path = dir.file("backup.key");
  using std::filesystem::perms;
  for (perms mode : {kOwnerOnly | perms::group_read | perms::others_read,
                     kOwnerOnly | perms::group_read, kOwnerOnly | perms::others_write}) {
    writeFile(path, kHex, mode);
    auto key = loadKeyFile(path, "k1");
    ASSERT_FALSE(key);
    EXPECT_EQ(ErrorType::InvalidConfig, key.error().type);
    EXPECT_THAT(key.error().message, HasSubstr(path));
    EXPECT_THAT(key.error().message, Not(HasSubstr("0a0b0c")));
  }
  writeFile(path, kHex, kOwnerOnly);
  EXPECT_TRUE(loadKeyFile(path, "k1"));
}

// A key file that is neither 64 hex digits nor 32 bytes is refused without quoting it, as is an
// invalid id (naming the file); a missing file is an I/O error; a directory is not a key file.
TEST(KeyringTest, RefusesFilesThatAreNotKeys) {
  TempDir dir;
  const std::string path = dir.file("backup.key");
  const std::string hex = kHex;
  for (const std::string& content : {hex.substr(2), hex + "ab", "zz" + hex.substr(2), std::string(),
                                     std::string(33, 'x'), std::string(5000, 'a')}) {
    writeFile(path, content, kOwnerOnly);
    auto key = loadKeyFile(path, "k1");
    ASSERT_FALSE(key);
    EXPECT_EQ(ErrorType::InvalidConfig, key.error().type);
    EXPECT_THAT(key.error().message, HasSubstr(path));
    EXPECT_THAT(key.error().message, Not(HasSubstr("0a0b0c")));
  }
  writeFile(path, kHex, kOwnerOnly);
  auto bad_id = loadKeyFile(path, "bad id");
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(ErrorType::InvalidConfig, bad_id.error().type);
  EXPECT_THAT(bad_id.error().message, HasSubstr(path));
  auto missing = loadKeyFile(dir.file("missing.key"), "k1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(ErrorType::Io, missing.error().type);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace);
  auto directory = loadKeyFile(dir.path(), "k1");
  ASSERT_FALSE(directory);
  EXPECT_EQ(ErrorType::InvalidConfig, directory.error().type);
}

// A keyring finds keys by id, writes with the current one, and refuses duplicate ids, an empty
// set and a current id that names no key.
TEST(KeyringTest, FindsKeysAndValidatesTheSet) {
  auto k1 = BackupKey::generate("k1");
  auto k2 = BackupKey::generate("k2");
  ASSERT_TRUE(k1 && k2);
  auto keyring = Keyring::create({*k1, *k2}, "k2");
  ASSERT_TRUE(keyring) << keyring.error().message;
  EXPECT_EQ("k2", keyring->current().id());
  EXPECT_TRUE(sameBytes(*k2, keyring->current()));
  ASSERT_NE(nullptr, keyring->find("k1"));
  EXPECT_TRUE(sameBytes(*k1, *keyring->find("k1")));
  EXPECT_EQ(nullptr, keyring->find("k3"));
  EXPECT_EQ((std::vector<std::string>{"k1", "k2"}), keyring->ids());

  auto duplicate = Keyring::create({*k1, *k1}, "k1");
  ASSERT_FALSE(duplicate);
  EXPECT_THAT(duplicate.error().message, HasSubstr("'k1' is configured twice"));
  EXPECT_FALSE(Keyring::create({}, "k1"));
  auto unknown = Keyring::create({*k1}, "k9");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(ErrorType::InvalidConfig, unknown.error().type);
  EXPECT_THAT(unknown.error().message, HasSubstr("'k9'"));
}

}  // namespace
}  // namespace stages::persister::backup
