// Salvage against the fixture factory's real-Cyrus images (FIXTURES_REQUIRED
// cyrus_store): clean stores come back byte for byte, and the damage recipes of
// fixtures/damage/ give the outcome their README promises.
#include <gtest/gtest.h>

#include <map>

#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

const std::string kData = std::string(MR_BINARY_DIR) + "/fixture-data";

// Copies SET's current.img, applies RECIPE (if any), returns its JSON.
nlohmann::json Damage(const TempDir& t, const std::string& set, const std::string& recipe,
                      const std::string& args = "") {
  auto cp = Sh("cp --sparse=always " + Quote(kData + "/" + set + "/current.img") + " " + Quote(t / "img"));
  EXPECT_EQ(cp.rc, 0) << cp.out;
  if (recipe.empty()) return {};
  auto r = Sh("bash " + Quote(std::string(MR_SOURCE_DIR) + "/fixtures/damage/" + recipe + ".sh") + " " +
              Quote(t / "img") + " " + args + " 2>/dev/null");
  EXPECT_EQ(r.rc, 0) << r.out;
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::string Diff(const std::string& a, const std::string& b) {
  return Sh("diff -r " + Quote(a) + " " + Quote(b)).out;
}

TEST(SalvageFixture, CleanStoresComeBackByteForByte) {
  for (const char* set : {"small-uuid", "small-legacy"}) {
    SCOPED_TRACE(set);
    TempDir t;
    Damage(t, set, "");
    const std::string before = Sha256(t / "img");
    auto r = Salvage(t / "img", t / "out", "--jobs 2");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(Sha256(t / "img"), before);
    EXPECT_EQ(Diff(kData + "/" + set + "/current/spool", t / "out/spool"), "");
    EXPECT_EQ(Diff(kData + "/" + set + "/current/conf", t / "out/conf"), "");
    auto m = ReadManifest(t / "out");
    EXPECT_EQ(m["spool_path"], "/var/spool/cyrus/mail");
    EXPECT_EQ(m["config_path"], "/var/lib/cyrus");
    auto truth = nlohmann::json::parse(ReadText(kData + "/" + set + "/truth-current.json"));
    EXPECT_EQ(m["users"].size(), truth["users"].size());
    for (const auto& u : m["users"]) EXPECT_TRUE(u["done"].get<bool>());
  }
}

TEST(SalvageFixture, ZeroSuperblockAndUnlinkedFolderLoseNothing) {
  for (const char* recipe : {"zero_superblock", "unlink_folder"}) {
    SCOPED_TRACE(recipe);
    TempDir t;
    Damage(t, "damage-uuid", recipe);
    auto r = Salvage(t / "img", t / "out");
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_EQ(Diff(kData + "/damage-uuid/current/spool", t / "out/spool"), "");
    EXPECT_EQ(ReadManifest(t / "out")["totals"]["lost_found"], 0);
  }
}

TEST(SalvageFixture, GarbageDirBlockEntriesArePutBackByHeaderIndexAndGuid) {
  TempDir t;
  auto d = Damage(t, "damage-uuid", "dir_block_garbage");
  ASSERT_TRUE(d.contains("lost_entries"));
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  const std::string rel = d["path"].get<std::string>().substr(std::string("/var/spool/cyrus/mail").size());
  int placed = 0;
  for (const auto& e : d["lost_entries"]) {
    const std::string name = e["name"];
    if (name == "cyrus.cache" || name == "cyrus.annotations") continue;  // no key to place them by
    const std::string want = kData + "/damage-uuid/current/spool" + rel + "/" + name;
    EXPECT_EQ(ReadText(t / ("out/spool" + rel + "/" + name)), ReadText(want)) << name;
    ++placed;
  }
  EXPECT_GT(placed, 10);
  auto m = ReadManifest(t / "out");
  for (const auto& dir : m["dirs"])
    if (dir["path"] == "spool" + rel) {
      EXPECT_FALSE(dir["complete"].get<bool>());
    }
}

TEST(SalvageFixture, BadmapRecipeFilesAreExactlyTheDamagedOnes) {
  TempDir t;
  auto d = Damage(t, "damage-uuid", "badmap", Quote(t / "map"));
  ASSERT_TRUE(d.contains("files"));
  auto r = Salvage(t / "img", t / "out", "--badmap " + Quote(t / "map"));
  EXPECT_EQ(r.rc, 1) << r.out;
  std::map<std::string, nlohmann::json> want;
  for (const auto& f : d["files"])
    want["spool" + f["path"].get<std::string>().substr(std::string("/var/spool/cyrus/mail").size())] =
        f["file_range"];
  std::map<std::string, nlohmann::json> got;
  const auto m = ReadManifest(t / "out");
  for (const auto& f : m["files"])
    if (!f["damaged"].empty()) got[f["path"].get<std::string>()] = f["damaged"];
  ASSERT_EQ(got.size(), want.size()) << r.out << ReadText(t / "map").substr(0, 400);
  for (const auto& [path, range] : want) {
    ASSERT_TRUE(got.count(path)) << path;
    const std::uint64_t off = range[0], len = range[1];
    EXPECT_EQ(got[path][0][0], off) << path;
    EXPECT_LE(got[path][0][1].get<std::uint64_t>(), len) << path;
  }
}

TEST(SalvageFixture, UnreplayedJournalIsReplayedInMemoryByDefault) {
  TempDir t;
  auto d = Damage(t, "damage-uuid", "journal_unreplayed");
  ASSERT_TRUE(d.contains("path"));
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  EXPECT_EQ(Diff(kData + "/damage-uuid/current/spool", t / "out/spool"), "");
  auto i = Salvage(t / "img", t / "ignored", "--journal ignore");
  EXPECT_EQ(i.rc, 1) << i.out;
  EXPECT_GE(ReadManifest(t / "ignored")["totals"]["incomplete_dirs"].get<int>(), 1);
}

}  // namespace
}  // namespace mr::salvage
