// Archive names, the retention policy and the directory target (stages/persister/backup/targets.h).
#include "stages/persister/backup/targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "tests/stages/persister/test_data.h"

namespace stages::persister::backup {
namespace {

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kBase = 1795564800000;  // 2026-11-25T00:00:00Z

// Names encode the UTC time to the millisecond and parse back; other names are not archives.
TEST(ArchiveNameTest, RoundTripsAndRejectsOtherNames) {
  EXPECT_EQ("pointtron-20261125T000000000Z.ptbk", archiveName(kBase));
  EXPECT_EQ("pointtron-20261126T130405123Z.ptbk", archiveName(kBase + kDay + 13 * 3'600'000 + 245'123));
  EXPECT_EQ(kBase + 245'123, archiveTime(archiveName(kBase + 245'123)));
  for (const char* other : {"pointtron-20261125T000000000Z.ptbk.tmp", "pointtron-20261325T000000000Z.ptbk",
                            "pointtron-20261125T250000000Z.ptbk", "pointtron-2026112XT000000000Z.ptbk",
                            "notes.txt", "pointtron-20260230T000000000Z.ptbk"}) {
    EXPECT_FALSE(archiveTime(other)) << other;
  }
}

std::vector<StoredBackup> hourly(std::int64_t from_ms, int count) {
  std::vector<StoredBackup> out;
  for (int i = 0; i < count; ++i) {
    const std::int64_t at = from_ms + i * 3'600'000;
    out.push_back({.name = archiveName(at), .bytes = 1, .created_at_ms = at});
  }
  return out;
}

// Hourly backups over 10 whole days, checked at midnight after them; keep the last 24 and one per
// day for 7 days (today, still empty, included): the 24 of the last day plus the 23:00 backup of
// each of the 5 days before it; the rest go, oldest first.
TEST(RetentionTest, KeepsTheLastNAndOnePerDay) {
  const auto backups = hourly(kBase, 240);
  const std::int64_t now = kBase + 240 * 3'600'000;
  const auto pruned = prunable(backups, 24, 7, now);
  EXPECT_EQ(240u - 24 - 5, pruned.size());
  EXPECT_EQ(backups.front().name, pruned.front());
  for (const auto& name : pruned) {
    EXPECT_LT(*archiveTime(name), now - 24 * 3'600'000) << name;
  }
  // The fifth day (index 4) keeps its 23:00 backup only; the fourth keeps none.
  const auto isPruned = [&](std::int64_t at) {
    return std::find(pruned.begin(), pruned.end(), archiveName(at)) != pruned.end();
  };
  EXPECT_FALSE(isPruned(kBase + 5 * kDay - 3'600'000));
  EXPECT_TRUE(isPruned(kBase + 5 * kDay - 2 * 3'600'000));
  EXPECT_TRUE(isPruned(kBase + 4 * kDay - 3'600'000));
  // The newest archive is never pruned, even with keep_last 0 asked.
  EXPECT_EQ(1u, prunable(hourly(kBase, 2), 0, 0, now).size());
  EXPECT_TRUE(prunable({}, 1, 1, now).empty());
}

// The directory target stores atomically, reads back, lists archives only, downloads and deletes;
// a stored copy that differs from the archive is reported.
TEST(DirectoryTargetTest, StoresListsDownloadsAndRemoves) {
  testing::TempDir dir;
  const std::string local = dir.file("local.ptbk");
  std::ofstream(local) << "archive bytes";
  auto digest = sha256File(local);
  ASSERT_TRUE(digest);
  auto target = directoryTarget(dir.file("backups"));
  const std::string name = archiveName(kBase);
  ASSERT_TRUE(target->upload(local, name, {.bytes = 13, .sha256 = *digest}));
  std::ofstream(dir.file("backups/unrelated.txt")) << "x";
  auto listed = target->list();
  ASSERT_TRUE(listed);
  ASSERT_EQ(1u, listed->size());
  EXPECT_EQ((StoredBackup{.name = name, .bytes = 13, .created_at_ms = kBase}), listed->front());
  ASSERT_TRUE(target->download(name, dir.file("fetched.ptbk")));
  EXPECT_EQ(*digest, *sha256File(dir.file("fetched.ptbk")));
  EXPECT_FALSE(target->upload(local, archiveName(kBase + 1), {.bytes = 13, .sha256 = std::string(64, '0')}));
  ASSERT_TRUE(target->remove(name));
  ASSERT_TRUE(target->remove(name));  // already gone: fine
  listed = target->list();
  ASSERT_TRUE(listed);
  EXPECT_EQ(1u, listed->size());  // the mismatching upload stays for inspection
}

}  // namespace
}  // namespace stages::persister::backup
