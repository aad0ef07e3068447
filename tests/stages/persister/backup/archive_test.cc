#include "stages/persister/backup/archive.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/stages/persister/test_data.h"

namespace stages::persister::backup {
namespace {

using ::testing::HasSubstr;
using pipeline::ErrorType;
using stages::persister::testing::TempDir;

constexpr std::uint32_t kSmallChunk = 4096;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

bool exists(const std::string& path) { return std::filesystem::exists(path); }

std::string randomBytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return bytes;
}

BackupKey key(const std::string& id, char fill) {
  auto made = keyFromHex(id, std::string(64, fill));
  EXPECT_TRUE(made) << made.error().message;
  return *made;
}

Keyring keyring(std::vector<BackupKey> keys, const std::string& current) {
  auto made = Keyring::create(std::move(keys), current);
  EXPECT_TRUE(made) << made.error().message;
  return std::move(*made);
}

// Where the parts of an archive lie, read independently of the implementation (the layout of
// docs/backup-format.md).
struct Frame {
  std::size_t offset = 0;     // of its length field
  std::uint32_t length = 0;   // plaintext (= ciphertext) bytes
  std::size_t size() const { return 4 + length + 16; }
};
struct Layout {
  std::size_t header_size = 0;
  std::uint32_t chunk_size = 0;
  std::vector<Frame> frames;
};

std::uint32_t u32At(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  }
  return value;
}

Layout layoutOf(const std::string& archive) {
  Layout layout;
  const std::size_t id_size = static_cast<unsigned char>(archive.at(5));
  layout.header_size = 4 + 1 + 1 + id_size + 8 + 4;
  layout.chunk_size = u32At(archive, layout.header_size - 4);
  std::size_t at = layout.header_size;
  while (at < archive.size()) {
    Frame frame{.offset = at, .length = u32At(archive, at)};
    layout.frames.push_back(frame);
    at += frame.size();
  }
  EXPECT_EQ(archive.size(), at) << "frames do not tile the archive";
  return layout;
}

Manifest manifestOf(const std::string& snapshot_path) {
  Manifest manifest;
  manifest.created_at_ms = 1795536000000;
  manifest.schema_version = 3;
  manifest.highest_block_height = 81234567;
  manifest.row_counts = {{"blocks", 2000}, {"points", 1999}, {"kafka_offsets", 2}};
  manifest.kafka_offsets = {{.topic = "pt.blocks", .partition = 0, .next_offset = 4242},
                            {.topic = "pt.stats", .partition = 3, .next_offset = 17}};
  manifest.database_bytes = std::filesystem::file_size(snapshot_path);
  auto sha256 = sha256File(snapshot_path);
  EXPECT_TRUE(sha256) << sha256.error().message;
  manifest.database_sha256 = sha256 ? *sha256 : "";
  manifest.key_id = "k1";
  return manifest;
}

class ArchiveTest : public ::testing::Test {
 protected:
  // Writes `content` as the snapshot and archives it with key_ into archive_.
  Manifest archive(const std::string& content, ArchiveOptions options = {}) {
    writeFile(snapshot_, content);
    Manifest manifest = manifestOf(snapshot_);
    auto info = writeArchive(snapshot_, manifest, key_, archive_, options);
    EXPECT_TRUE(info) << info.error().message;
    return manifest;
  }

  // `bytes` as an archive is refused with InvalidPayload mentioning `reason`, and leaves no
  // output (nor its temporary file) behind.
  void expectRejected(const std::string& bytes, const std::string& reason) {
    const std::string path = dir_.file("tampered.ptbk");
    writeFile(path, bytes);
    auto extracted = extractArchive(path, keyring_, out_);
    ASSERT_FALSE(extracted) << "accepted";
    EXPECT_EQ(ErrorType::InvalidPayload, extracted.error().type) << extracted.error().message;
    EXPECT_THAT(extracted.error().message, HasSubstr(reason));
    EXPECT_FALSE(exists(out_));
    EXPECT_FALSE(exists(out_ + ".tmp"));
  }

  TempDir dir_;
  std::string snapshot_ = dir_.file("snapshot.db");
  std::string archive_ = dir_.file("backup.ptbk");
  std::string out_ = dir_.file("restored.db");
  BackupKey key_ = key("k1", 'a');
  Keyring keyring_ = keyring({key_}, "k1");
};

// A real SQLite database comes back byte for byte with the same manifest, readable by SQLite,
// and writeArchive reports the archive's true size and SHA-256.
TEST_F(ArchiveTest, RoundTripsASqliteDatabase) {
  {
    SQLite::Database db(snapshot_, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE blocks (height INTEGER PRIMARY KEY, block_id TEXT NOT NULL)");
    SQLite::Transaction transaction(db);
    SQLite::Statement insert(db, "INSERT INTO blocks VALUES (?, ?)");
    for (int height = 1; height <= 2000; ++height) {
      insert.bind(1, height);
      insert.bind(2, testing::blockId(height, height % 10));
      insert.exec();
      insert.reset();
    }
    transaction.commit();
  }
  const Manifest manifest = manifestOf(snapshot_);
  auto info = writeArchive(snapshot_, manifest, key_, archive_);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(std::filesystem::file_size(archive_), info->bytes);
  EXPECT_EQ(*sha256File(archive_), info->sha256);
  EXPECT_FALSE(exists(archive_ + ".tmp"));
  EXPECT_LT(info->bytes, manifest.database_bytes);  // compressed

  auto read = readManifest(archive_, keyring_);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(manifest, *read);
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(manifest, *extracted);
  EXPECT_EQ(readFile(snapshot_), readFile(out_));
  EXPECT_FALSE(exists(out_ + ".tmp"));
  struct stat info_out {};
  ASSERT_EQ(0, ::stat(out_.c_str(), &info_out));
  EXPECT_EQ(0600u, info_out.st_mode & 0777);
  SQLite::Database restored(out_, SQLite::OPEN_READONLY);
  EXPECT_EQ(2000, restored.execAndGet("SELECT COUNT(*) FROM blocks").getInt());
}

// A 1 MB snapshot with 4 KiB chunks becomes hundreds of chunks, all full but the last, and comes
// back identical.
TEST_F(ArchiveTest, SpreadsALargeSnapshotOverManyChunks) {
  const std::string content = randomBytes(1'000'000, 1);
  const Manifest manifest = archive(content, {.chunk_size = kSmallChunk});
  const Layout layout = layoutOf(readFile(archive_));
  EXPECT_EQ(kSmallChunk, layout.chunk_size);
  ASSERT_GT(layout.frames.size(), 1'000'000 / kSmallChunk);
  for (std::size_t i = 0; i + 1 < layout.frames.size(); ++i) {
    EXPECT_EQ(kSmallChunk, layout.frames[i].length) << "chunk " << i;
  }
  EXPECT_LT(layout.frames.back().length, kSmallChunk);
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(manifest, *extracted);
  EXPECT_EQ(content, readFile(out_));
}

// Compressible data is compressed, and the level option is honoured.
TEST_F(ArchiveTest, CompressesAtTheConfiguredLevel) {
  std::string content;
  for (int i = 0; i < 50'000; ++i) content += "block " + std::to_string(i % 977) + ";";
  archive(content, {.compression_level = 1});
  const auto fast = std::filesystem::file_size(archive_);
  archive(content, {.compression_level = 19});
  const auto small = std::filesystem::file_size(archive_);
  EXPECT_LT(fast, content.size() / 10);
  EXPECT_LT(small, fast);
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(content, readFile(out_));
}

// An empty snapshot round-trips to an empty file.
TEST_F(ArchiveTest, RoundTripsAnEmptySnapshot) {
  const Manifest manifest = archive("");
  EXPECT_EQ(0u, manifest.database_bytes);
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(manifest, *extracted);
  ASSERT_TRUE(exists(out_));
  EXPECT_EQ(0u, std::filesystem::file_size(out_));
}

// A plaintext that fills its last chunk exactly is followed by an empty final chunk, which
// round-trips; without that empty chunk the archive is truncated.
TEST_F(ArchiveTest, AnExactMultipleOfTheChunkSizeEndsWithAnEmptyFinalChunk) {
  const std::string content = randomBytes(3 * kSmallChunk, 2);
  writeFile(snapshot_, content);
  Manifest manifest = manifestOf(snapshot_);
  ASSERT_TRUE(writeArchive(snapshot_, manifest, key_, archive_, {.chunk_size = kSmallChunk}));
  Layout layout = layoutOf(readFile(archive_));
  std::size_t plaintext = 0;
  for (const Frame& frame : layout.frames) plaintext += frame.length;
  // Padding the manifest by the shortfall (same snapshot, so the same compressed body) makes
  // the plaintext a multiple of the chunk size.
  // A row_counts entry `,"<name>":0` adds the name's length + 5 bytes.
  std::size_t pad = kSmallChunk - plaintext % kSmallChunk;
  if (pad < 6) pad += kSmallChunk;
  manifest.row_counts[std::string(pad - 5, 't')] = 0;
  ASSERT_TRUE(writeArchive(snapshot_, manifest, key_, archive_, {.chunk_size = kSmallChunk}));
  const std::string bytes = readFile(archive_);
  layout = layoutOf(bytes);
  ASSERT_EQ(0u, layout.frames.back().length);
  EXPECT_EQ(kSmallChunk, layout.frames[layout.frames.size() - 2].length);
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(manifest, *extracted);
  EXPECT_EQ(content, readFile(out_));
  std::filesystem::remove(out_);
  expectRejected(bytes.substr(0, layout.frames.back().offset), "truncated: no final chunk");
}

// Any single changed byte, anywhere (header, manifest chunk, body, length fields, last tag), is
// rejected and leaves no output file.
TEST_F(ArchiveTest, RejectsEverySingleFlippedByte) {
  archive(randomBytes(60'000, 3), {.chunk_size = kSmallChunk});
  const std::string original = readFile(archive_);
  const Layout layout = layoutOf(original);
  ASSERT_GE(layout.frames.size(), 10u);
  std::mt19937 rng(20260101);
  const auto in = [&rng](std::size_t from, std::size_t to) {  // [from, to)
    return std::uniform_int_distribution<std::size_t>(from, to - 1)(rng);
  };
  const Frame& first = layout.frames.front();
  const Frame& last = layout.frames.back();
  std::vector<std::size_t> positions;
  for (int i = 0; i < 8; ++i) positions.push_back(in(0, layout.header_size));
  for (int i = 0; i < 8; ++i) positions.push_back(in(first.offset, first.offset + first.size()));
  for (int i = 0; i < 4; ++i) {
    const Frame& frame = layout.frames[in(0, layout.frames.size())];
    positions.push_back(in(frame.offset, frame.offset + 4));  // a length field
  }
  for (int i = 0; i < 16; ++i) positions.push_back(in(first.offset + first.size(), last.offset));
  for (int i = 0; i < 6; ++i) positions.push_back(in(original.size() - 16, original.size()));
  for (int i = 0; i < 8; ++i) positions.push_back(in(0, original.size()));
  ASSERT_EQ(50u, positions.size());
  for (std::size_t position : positions) {
    SCOPED_TRACE(::testing::Message() << "byte " << position << " of " << original.size());
    std::string tampered = original;
    tampered[position] = static_cast<char>(tampered[position] ^ static_cast<char>(1 + rng() % 255));
    expectRejected(tampered, "");
  }
}

// A header change is caught even by readManifest, which reads only the first chunk.
TEST_F(ArchiveTest, ReadManifestRejectsAChangedHeader) {
  archive(randomBytes(10'000, 4), {.chunk_size = kSmallChunk});
  const std::string original = readFile(archive_);
  const Layout layout = layoutOf(original);
  for (std::size_t position = 0; position < layout.header_size; ++position) {
    SCOPED_TRACE(position);
    std::string tampered = original;
    tampered[position] = static_cast<char>(tampered[position] ^ 0x01);
    writeFile(archive_, tampered);
    auto manifest = readManifest(archive_, keyring_);
    ASSERT_FALSE(manifest);
    EXPECT_EQ(ErrorType::InvalidPayload, manifest.error().type);
  }
}

// Archives cut short anywhere, in the header, inside a chunk or at a chunk boundary, are
// rejected as truncated.
TEST_F(ArchiveTest, RejectsTruncatedArchives) {
  archive(randomBytes(30'000, 5), {.chunk_size = kSmallChunk});
  const std::string original = readFile(archive_);
  const Layout layout = layoutOf(original);
  ASSERT_GE(layout.frames.size(), 4u);
  const std::vector<std::pair<std::size_t, std::string>> cuts = {
      {0, "truncated: incomplete header"},
      {2, "truncated: incomplete header"},
      {layout.header_size - 1, "truncated: incomplete header"},
      {layout.header_size, "truncated: no final chunk"},
      {layout.header_size + 2, "truncated: chunk 0 is incomplete"},
      {layout.frames[1].offset, "truncated: no final chunk"},
      {layout.frames[2].offset + 100, "truncated: chunk 2 is incomplete"},
      {layout.frames.back().offset, "truncated: no final chunk"},
      {original.size() - 16, "is incomplete"},
      {original.size() - 1, "is incomplete"},
  };
  for (const auto& [length, reason] : cuts) {
    SCOPED_TRACE(length);
    expectRejected(original.substr(0, length), reason);
  }
}

// Bytes after the final chunk are rejected, whether garbage or a copy of a valid chunk.
TEST_F(ArchiveTest, RejectsTrailingData) {
  archive(randomBytes(20'000, 6), {.chunk_size = kSmallChunk});
  const std::string original = readFile(archive_);
  const Layout layout = layoutOf(original);
  expectRejected(original + "x", "trailing data after the final chunk");
  expectRejected(original + std::string(4, '\0'), "trailing data after the final chunk");
  expectRejected(original + original.substr(layout.frames.back().offset),
                 "trailing data after the final chunk");
}

// Chunks swapped, duplicated, dropped or spliced in from another archive of the same key and
// snapshot are rejected at the first chunk out of place.
TEST_F(ArchiveTest, RejectsReorderedDuplicatedDroppedAndSplicedChunks) {
  const std::string content = randomBytes(40'000, 7);
  archive(content, {.chunk_size = kSmallChunk});
  const std::string original = readFile(archive_);
  const Layout layout = layoutOf(original);
  ASSERT_GE(layout.frames.size(), 5u);
  const auto frame = [&](const std::string& bytes, std::size_t i) {
    return bytes.substr(layout.frames[i].offset, layout.frames[i].size());
  };
  const std::string head = original.substr(0, layout.frames[1].offset);
  const std::string tail = original.substr(layout.frames[3].offset);
  expectRejected(head + frame(original, 2) + frame(original, 1) + tail,
                 "chunk 1: authentication failed (corrupted or wrong key)");
  expectRejected(head + frame(original, 1) + frame(original, 1) + tail,
                 "chunk 2: authentication failed (corrupted or wrong key)");
  expectRejected(head + frame(original, 2) + tail,
                 "chunk 1: authentication failed (corrupted or wrong key)");
  // The same snapshot archived again gets another nonce prefix: nothing carries over.
  archive(content, {.chunk_size = kSmallChunk});
  const std::string other = readFile(archive_);
  ASSERT_NE(original, other);
  ASSERT_EQ(original.size(), other.size());
  expectRejected(head + frame(other, 1) + frame(original, 2) + tail,
                 "chunk 1: authentication failed (corrupted or wrong key)");
  expectRejected(other.substr(0, layout.header_size) + original.substr(layout.header_size),
                 "chunk 0: authentication failed (corrupted or wrong key)");
}

// A key with the right id but other bytes fails authentication; an archive whose key is not
// configured names that key.
TEST_F(ArchiveTest, RejectsAWrongKeyAndNamesAnUnknownOne) {
  archive(randomBytes(5'000, 8));
  const Keyring impostor = keyring({key("k1", 'b')}, "k1");
  auto manifest = readManifest(archive_, impostor);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(ErrorType::InvalidPayload, manifest.error().type);
  EXPECT_THAT(manifest.error().message,
              HasSubstr("chunk 0: authentication failed (corrupted or wrong key)"));
  auto extracted = extractArchive(archive_, impostor, out_);
  ASSERT_FALSE(extracted);
  EXPECT_THAT(extracted.error().message, HasSubstr("authentication failed"));
  EXPECT_FALSE(exists(out_));

  const Keyring others = keyring({key("k2", 'a')}, "k2");
  for (const auto& result :
       {readManifest(archive_, others), extractArchive(archive_, others, out_)}) {
    ASSERT_FALSE(result);
    EXPECT_EQ(ErrorType::InvalidPayload, result.error().type);
    EXPECT_THAT(result.error().message, HasSubstr(archive_));
    EXPECT_THAT(result.error().message,
                HasSubstr("encrypted with key 'k1', which is not configured"));
  }
  EXPECT_FALSE(exists(out_));
}

// After a rotation the keyring still reads archives of its older keys.
TEST_F(ArchiveTest, ReadsArchivesOfAnOlderKeyAfterRotation) {
  const std::string content = randomBytes(5'000, 9);
  const Manifest manifest = archive(content);
  const Keyring rotated = keyring({key("k0", 'c'), key_, key("k2", 'd')}, "k2");
  auto extracted = extractArchive(archive_, rotated, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(manifest, *extracted);
  EXPECT_EQ(content, readFile(out_));
}

// readManifest decrypts only the start: a damaged body does not stop it, but extraction fails.
TEST_F(ArchiveTest, ReadManifestReadsOnlyTheChunksOfTheManifest) {
  const Manifest manifest = archive(randomBytes(50'000, 10), {.chunk_size = kSmallChunk});
  std::string bytes = readFile(archive_);
  const Layout layout = layoutOf(bytes);
  bytes[layout.frames[5].offset + 10] ^= 0x40;
  writeFile(archive_, bytes);
  auto read = readManifest(archive_, keyring_);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(manifest, *read);
  expectRejected(bytes, "chunk 5: authentication failed");
}

// A manifest longer than one chunk is read across chunks.
TEST_F(ArchiveTest, ReadsAManifestSpanningSeveralChunks) {
  writeFile(snapshot_, randomBytes(3'000, 11));
  Manifest manifest = manifestOf(snapshot_);
  for (int i = 0; i < 600; ++i) manifest.row_counts["table_" + std::to_string(i)] = i;
  ASSERT_GT(manifest.toJson().size(), 2 * kSmallChunk);
  ASSERT_TRUE(writeArchive(snapshot_, manifest, key_, archive_, {.chunk_size = kSmallChunk}));
  auto read = readManifest(archive_, keyring_);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(manifest, *read);
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_TRUE(extracted) << extracted.error().message;
  EXPECT_EQ(manifest, *extracted);
}

// A file that is not an archive, or of another format version, is named as such.
TEST_F(ArchiveTest, NamesFilesThatAreNotArchives) {
  expectRejected("SQLite format 3\0 and so on", "not a point-tron backup (bad magic)");
  archive("x");
  std::string bytes = readFile(archive_);
  bytes[4] = 2;
  expectRejected(bytes, "unsupported format version 2");
}

// A failed extraction leaves an existing file at the output path as it was.
TEST_F(ArchiveTest, KeepsAnExistingOutputFileWhenExtractionFails) {
  archive(randomBytes(20'000, 12), {.chunk_size = kSmallChunk});
  std::string bytes = readFile(archive_);
  bytes[bytes.size() - 1] ^= 1;
  writeFile(archive_, bytes);
  writeFile(out_, "the previous database");
  auto extracted = extractArchive(archive_, keyring_, out_);
  ASSERT_FALSE(extracted);
  EXPECT_EQ("the previous database", readFile(out_));
  EXPECT_FALSE(exists(out_ + ".tmp"));
}

// writeArchive refuses a snapshot that is not the one the manifest describes and leaves no file.
TEST_F(ArchiveTest, RefusesASnapshotThatDoesNotMatchItsManifest) {
  writeFile(snapshot_, randomBytes(10'000, 13));
  const Manifest manifest = manifestOf(snapshot_);
  writeFile(snapshot_, randomBytes(10'000, 14));  // same size, other bytes
  auto changed = writeArchive(snapshot_, manifest, key_, archive_);
  ASSERT_FALSE(changed);
  EXPECT_EQ(ErrorType::InvalidArgument, changed.error().type);
  EXPECT_THAT(changed.error().message, HasSubstr("SHA-256 does not match the manifest"));
  writeFile(snapshot_, randomBytes(10'001, 13));
  auto grown = writeArchive(snapshot_, manifest, key_, archive_);
  ASSERT_FALSE(grown);
  EXPECT_THAT(grown.error().message, HasSubstr("larger than the manifest"));
  writeFile(snapshot_, randomBytes(9'999, 13));
  auto shrunk = writeArchive(snapshot_, manifest, key_, archive_);
  ASSERT_FALSE(shrunk);
  EXPECT_THAT(shrunk.error().message, HasSubstr("9999 bytes but the manifest says 10000"));
  EXPECT_FALSE(exists(archive_));
  EXPECT_FALSE(exists(archive_ + ".tmp"));
}

// Options out of range, a manifest naming another key, an invalid manifest and a missing
// snapshot are refused; an empty key_id is filled in with the key's id.
TEST_F(ArchiveTest, ValidatesItsInputs) {
  writeFile(snapshot_, "x");
  Manifest manifest = manifestOf(snapshot_);
  for (const ArchiveOptions& options :
       {ArchiveOptions{.chunk_size = 1023}, ArchiveOptions{.chunk_size = (16u << 20) + 1},
        ArchiveOptions{.compression_level = 99}}) {
    auto info = writeArchive(snapshot_, manifest, key_, archive_, options);
    ASSERT_FALSE(info);
    EXPECT_EQ(ErrorType::InvalidArgument, info.error().type);
  }
  manifest.key_id = "k2";
  auto foreign = writeArchive(snapshot_, manifest, key_, archive_);
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message, HasSubstr("'k2'"));
  manifest.key_id = "";
  manifest.database_sha256 = "ABC";
  auto invalid = writeArchive(snapshot_, manifest, key_, archive_);
  ASSERT_FALSE(invalid);
  EXPECT_THAT(invalid.error().message, HasSubstr("database_sha256"));
  auto missing = writeArchive(dir_.file("missing.db"), manifestOf(snapshot_), key_, archive_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(ErrorType::Io, missing.error().type);
  EXPECT_FALSE(exists(archive_));

  manifest = manifestOf(snapshot_);
  manifest.key_id = "";
  ASSERT_TRUE(writeArchive(snapshot_, manifest, key_, archive_));
  auto read = readManifest(archive_, keyring_);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ("k1", read->key_id);
}

// The manifest's JSON parses back to the same value, with or without a block height.
TEST(ArchiveManifestTest, JsonRoundTrips) {
  Manifest manifest;
  manifest.created_at_ms = 1;
  manifest.schema_version = 2;
  manifest.row_counts = {{"blocks", 0}, {"weird \"name\"", 5}};
  manifest.kafka_offsets = {{.topic = "t", .partition = 2147483647, .next_offset = 9}};
  manifest.database_bytes = 18446744073709551615u;
  manifest.database_sha256 = std::string(64, 'f');
  manifest.key_id = "k.1";
  auto parsed = Manifest::parse(manifest.toJson());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(manifest, *parsed);
  EXPECT_FALSE(parsed->highest_block_height);
  manifest.highest_block_height = 0;
  parsed = Manifest::parse(manifest.toJson());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(manifest, *parsed);
  EXPECT_THAT(manifest.toJson(), HasSubstr(R"("format":"point-tron-backup/1")"));
}

// Manifests of another format, with missing or ill-typed fields, negative numbers or a bad
// digest are refused with the field's name; unknown fields are ignored.
TEST(ArchiveManifestTest, ParseRejectsBadManifests) {
  Manifest valid;
  valid.database_sha256 = std::string(64, '0');
  valid.key_id = "k1";
  const std::string json = valid.toJson();
  const auto replaced = [&json](const std::string& from, const std::string& to) {
    std::string changed = json;
    const auto at = changed.find(from);
    EXPECT_NE(std::string::npos, at) << from;
    return changed.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not valid JSON"},
      {"[]", "not a JSON object"},
      {replaced("backup/1", "backup/2"), "format"},
      {replaced(R"("created_at_ms":0,)", ""), "created_at_ms: missing"},
      {replaced(R"("schema_version":0)", R"("schema_version":-1)"), "schema_version: negative"},
      {replaced(R"("highest_block_height":null)", R"("highest_block_height":"1")"),
       "highest_block_height"},
      {replaced(R"("row_counts":{})", R"("row_counts":{"a":1.5})"), "row_counts"},
      {replaced(R"("kafka_offsets":[])",
                R"("kafka_offsets":[{"topic":"","partition":0,"next_offset":0}])"),
       "kafka_offsets.topic"},
      {replaced(R"("kafka_offsets":[])",
                R"("kafka_offsets":[{"topic":"t","partition":2147483648,"next_offset":0}])"),
       "partition"},
      {replaced(std::string(64, '0'), std::string(63, '0')), "database_sha256"},
      {replaced(R"("key_id":"k1")", R"("key_id":"k 1")"), "key_id"},
      {replaced(R"("database_bytes":0)", R"("database_bytes":-1)"), "database_bytes"},
  };
  for (const auto& [text, field] : cases) {
    SCOPED_TRACE(text);
    auto parsed = Manifest::parse(text);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(ErrorType::InvalidPayload, parsed.error().type);
    EXPECT_THAT(parsed.error().message, HasSubstr(field));
  }
  auto extended = Manifest::parse(replaced(R"("key_id")", R"("future":{"x":[1]},"key_id")"));
  ASSERT_TRUE(extended) << extended.error().message;
  EXPECT_EQ(valid, *extended);
}

// sha256File hashes a file's content (known vectors) and reports a missing file as Io.
TEST(ArchiveSha256Test, HashesFiles) {
  TempDir dir;
  const std::string path = dir.file("f");
  writeFile(path, "");
  EXPECT_EQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", *sha256File(path));
  writeFile(path, "abc");
  EXPECT_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", *sha256File(path));
  auto missing = sha256File(dir.file("missing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(ErrorType::Io, missing.error().type);
}

}  // namespace
}  // namespace stages::persister::backup
