// FileStore (records spilled in sorted runs, merged back in path order) and
// PreviousIndex (resume's on-disk view of a previous salvage.json).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "salvage/file_store.h"
#include "salvage/manifest.h"
#include "salvage/previous.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

FileRecord Rec(std::mt19937& rng, int i) {
  FileRecord f;
  f.path = "spool/uuid/" + std::string(1, static_cast<char>('a' + rng() % 26)) + "/" + std::to_string(rng() % 100000) +
           "-" + std::to_string(i) + ".";
  f.ino = static_cast<std::uint32_t>(rng());
  f.size = rng() % 3 ? rng() % 100000 : (std::uint64_t{1} << 62) + rng();
  f.sha1 = std::string(40, "0123456789abcdef"[rng() % 16]);
  f.mtime = static_cast<std::int64_t>(rng()) - (std::int64_t{1} << 31);  // negative ones too
  f.mtime_ns = static_cast<std::uint32_t>(rng() % 1000000000);
  if (rng() % 5 == 0) {
    f.damaged = {{0, 4096}, {8192, rng() % 5000}};
    f.problem = "unreadable block \"x\"\n\\ " + std::to_string(i);
  }
  if (rng() % 7 == 0) {
    f.journal_fallback = {{4096, 4096}};
    f.map_from_journal = rng() % 2;
    f.inode_from_journal = rng() % 2;
    f.inode_journal_sequence = static_cast<std::uint32_t>(rng());
  }
  return f;
}

bool Same(const FileRecord& a, const FileRecord& b) {
  auto eq = [](const std::vector<ByteRange>& x, const std::vector<ByteRange>& y) {
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), [](auto& p, auto& q) {
             return p.offset == q.offset && p.length == q.length;
           });
  };
  return a.path == b.path && a.ino == b.ino && a.size == b.size && a.sha1 == b.sha1 && a.mtime == b.mtime &&
         a.mtime_ns == b.mtime_ns && eq(a.damaged, b.damaged) && a.problem == b.problem &&
         eq(a.journal_fallback, b.journal_fallback) && a.map_from_journal == b.map_from_journal &&
         a.inode_from_journal == b.inode_from_journal && a.inode_journal_sequence == b.inode_journal_sequence;
}

std::vector<FileRecord> All(FileStore& s) {
  std::vector<FileRecord> out;
  EXPECT_TRUE(s.ForEach([&](const FileRecord& f) { out.push_back(f); return true; }).ok());
  return out;
}

std::vector<FileRecord> Sorted(std::vector<FileRecord> v) {
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.path != b.path ? a.path < b.path : a.ino < b.ino; });
  return v;
}

void ExpectSame(const std::vector<FileRecord>& got, const std::vector<FileRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(Same(got[i], want[i])) << i << ": " << got[i].path;
}

TEST(FileStore, ManyGroupsComeBackInPathOrderAfterMerges) {
  TempDir t;
  std::mt19937 rng(7);
  FileStore s(t.path(), 5);  // tiny chunks: hundreds of runs, merged level by level
  std::vector<FileRecord> want;
  for (int g = 0; g < 300; ++g) {
    std::vector<FileRecord> batch;
    for (int i = 0, n = static_cast<int>(rng() % 12); i < n; ++i) batch.push_back(Rec(rng, g * 100 + i));
    want.insert(want.end(), batch.begin(), batch.end());
    ASSERT_TRUE(s.Add(std::move(batch)).ok());
    ASSERT_TRUE(s.Seal().ok());
    ASSERT_LT(s.runs(), 4 * FileStore::kFanIn) << "runs must be merged as they pile up";
  }
  ExpectSame(All(s), Sorted(want));
  EXPECT_EQ(s.totals().files, want.size());
  // The runs are unlinked: nothing is left in the directory, even now.
  EXPECT_TRUE(fs::is_empty(t.path()));
}

TEST(FileStore, AGroupBiggerThanAChunkSpillsInSortedChunks) {
  TempDir t;
  std::mt19937 rng(3);
  FileStore s(t.path(), 100);
  std::vector<FileRecord> want;
  for (int i = 0; i < 2500; ++i) {
    want.push_back(Rec(rng, i));
    ASSERT_TRUE(s.Add(want.back()).ok());
  }
  EXPECT_GE(s.runs(), 10u) << "a big group is not held in memory until it ends";
  EXPECT_GT(s.spilled_bytes(), 0u);
  ASSERT_TRUE(s.Seal().ok());
  ExpectSame(All(s), Sorted(want));
  std::uint64_t bytes = 0;
  for (auto& f : want) bytes += f.size;
  EXPECT_EQ(s.totals().bytes, bytes);
}

TEST(FileStore, RollbackForgetsTheUnsealedGroupOnly) {
  TempDir t;
  std::mt19937 rng(5);
  FileStore s(t.path(), 10);
  std::vector<FileRecord> a;
  for (int i = 0; i < 95; ++i) a.push_back(Rec(rng, i));
  ASSERT_TRUE(s.Add(std::vector<FileRecord>(a)).ok());
  ASSERT_TRUE(s.Seal().ok());
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(s.Add(Rec(rng, 1000 + i)).ok());  // spills and merges
  s.Rollback();
  ExpectSame(All(s), Sorted(a));
  EXPECT_EQ(s.totals().files, a.size());
}

TEST(FileStore, EmptyStoreTouchesNoDisk) {
  FileStore s("/nonexistent/dir");
  ASSERT_TRUE(s.Seal().ok());
  EXPECT_TRUE(All(s).empty());
}

TEST(FileStore, UnwritableSpillDirIsOneErrorNamingTheFile) {
  FileStore s("/nonexistent/dir", 2);
  std::mt19937 rng(1);
  ASSERT_TRUE(s.Add(Rec(rng, 1)).ok());
  Status st = s.Add(Rec(rng, 2));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("/nonexistent/dir/.salvage-spill-"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
  EXPECT_FALSE(s.Seal().ok()) << "a failed store stays failed";
}

TEST(FileStore, FullDiskIsAnErrorNamingTheFile) {
  if (::geteuid() != 0 || Sh("command -v mount").rc != 0) GTEST_SKIP() << "needs root to mount a tiny tmpfs";
  TempDir t;
  fs::create_directories(t / "small");
  if (Sh("mount -t tmpfs -o size=64k tmpfs " + Quote(t / "small")).rc != 0) GTEST_SKIP() << "cannot mount tmpfs";
  Status st;
  {
    FileStore s(t / "small", 1000);
    std::mt19937 rng(9);
    for (int i = 0; i < 20000 && st.ok(); ++i) st = s.Add(Rec(rng, i));
    if (st.ok()) st = s.Seal();
  }
  Sh("umount " + Quote(t / "small"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_NE(st.message().find("write spill file " + t / "small/.salvage-spill-"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.message();
}

salvage::Manifest Skeleton() {
  salvage::Manifest m;
  m.source_path = "/dev/sdz1";
  m.source_size = 12345;
  m.fs.blocksize = 4096;
  m.spool_path = "/var/spool/cyrus/mail";
  m.dirs.push_back({"spool", 2, true, "", false});
  m.users.push_back({"bob", true});
  return m;
}

TEST(FileStore, ManifestJsonIsIdenticalToTheInMemoryOne) {
  TempDir t;
  std::mt19937 rng(11);
  std::vector<FileRecord> recs;
  for (int i = 0; i < 3000; ++i) recs.push_back(Rec(rng, i));
  MemoryFileSource mem(recs);
  FileStore disk(t.path(), 64);
  for (size_t i = 0; i < recs.size(); i += 300) {  // groups in arbitrary order of arrival
    ASSERT_TRUE(disk.Add(std::vector<FileRecord>(recs.begin() + i, recs.begin() + std::min(recs.size(), i + 300))).ok());
    ASSERT_TRUE(disk.Seal().ok());
  }
  salvage::Manifest a = Skeleton(), b = Skeleton();
  a.files = &mem;
  b.files = &disk;
  auto ja = ManifestJson(a), jb = ManifestJson(b);
  ASSERT_TRUE(ja.ok() && jb.ok());
  EXPECT_EQ(*ja, *jb);
  auto j = nlohmann::json::parse(*jb);
  EXPECT_EQ(j["files"].size(), 3000u);
  EXPECT_EQ(j["totals"]["files"], 3000);
}

TEST(PreviousIndex, LooksUpWhatAPreviousManifestSaid) {
  TempDir t;
  std::mt19937 rng(13);
  std::vector<FileRecord> recs;
  for (int i = 0; i < 1000; ++i) recs.push_back(Rec(rng, i));
  MemoryFileSource mem(recs);
  salvage::Manifest m = Skeleton();
  m.files = &mem;
  ASSERT_TRUE(WriteManifest(m, t / "salvage.json").ok());
  auto ix = PreviousIndex::Load(t / "salvage.json", t.path());
  ASSERT_TRUE(ix.ok()) << ix.error().message;
  EXPECT_EQ((*ix)->files(), 1000u);
  EXPECT_EQ(std::distance(fs::directory_iterator(t.path()), fs::directory_iterator()), 1) << "index is unlinked";
  auto sorted = Sorted(recs);
  std::vector<std::string> keep;
  for (size_t i = 0; i < sorted.size(); i += 3) {
    keep.push_back(sorted[i].path);
    if (i % 2) keep.push_back(sorted[i].path + "-not-there");
  }
  keep.insert(keep.begin(), "a-before-everything");
  keep.push_back("~after-everything");
  std::sort(keep.begin(), keep.end());
  std::vector<std::string_view> paths(keep.begin(), keep.end());
  std::vector<PreviousFile> got;
  ASSERT_TRUE((*ix)->Lookup(paths, &got).ok());
  ASSERT_EQ(got.size(), paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    auto it = std::find_if(sorted.begin(), sorted.end(), [&](auto& f) { return f.path == paths[i]; });
    SCOPED_TRACE(keep[i]);
    ASSERT_EQ(got[i].found, it != sorted.end());
    if (it == sorted.end()) continue;
    EXPECT_EQ(got[i].ino, it->ino);
    EXPECT_EQ(got[i].size, it->size);
    EXPECT_EQ(got[i].sha1, it->sha1);
    EXPECT_EQ(got[i].intact, it->damaged.empty() && !it->FromJournal());
  }
}

TEST(PreviousIndex, RefusesWhatIsNotASortedManifest) {
  TempDir t;
  WriteText(t / "bad.json", "{\"files\":[");
  EXPECT_FALSE(PreviousIndex::Load(t / "bad.json", t.path()).ok());
  WriteText(t / "unsorted.json", R"({"files":[{"path":"b","ino":1,"size":1,"sha1":"x","damaged":[]},
                                               {"path":"a","ino":2,"size":1,"sha1":"y","damaged":[]}]})");
  auto u = PreviousIndex::Load(t / "unsorted.json", t.path());
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, Code::kCorrupt);
  EXPECT_FALSE(PreviousIndex::Load(t / "missing.json", t.path()).ok());
}

}  // namespace
}  // namespace mr::salvage
