// The catalog spilled to files (threshold 0, every check trims) must be the
// catalog on the heap: node for node, and the salvage it drives must write
// the same salvage.json and the same tree, for 1 and 2 jobs and on a resume.
// The image has what stresses the catalog's indexes: users, a folder rehomed
// from a lost directory, a message rehomed by GUID, a lost file for
// lost+found, an unsafe name and a second entry with its encoded name (a
// collision), hard links across users, and one big directory.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "common/fsutil.h"
#include "common/sha1.h"
#include "salvage/run.h"
#include "salvage/salvage.h"
#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

// path -> "f <sha256>", "l <target>" or "d" for everything under root.
std::map<std::string, std::string> TreeOf(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string rel = fs::relative(it->path(), root).string();
    if (it->is_symlink()) out[rel] = "l " + fs::read_symlink(it->path()).string();
    else if (it->is_directory()) out[rel] = "d";
    else out[rel] = "f " + Sha256(it->path().string());
  }
  return out;
}

// threshold 0: every array is in a file from its first element; 256 KiB:
// the bitmaps and the first 4,096 nodes fit on the heap, then the nodes and
// the names move to files with what they hold.
SpillSpace::Options Spill(std::size_t threshold) {
  SpillSpace::Options o;
  o.threshold = threshold;
  o.budget = 0;      // every check trims
  o.tick_every = 1;  // every tick checks
  return o;
}

class CatalogSpill : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string mail = t_ / "stage/mail";
    StageMailbox(mail, "ab1111", "user.bob", {"first\r\n", "second message\r\n", "third\r\n"});
    StageMailbox(mail, "cd2222", "user.carol", {"carol one\r\n", "carol two\r\n"});
    StageMailbox(mail, "ef3333", "user.bob.Sent", {"sent one\r\n", "sent two\r\n"});
    WriteText(t_ / "stage/lib/mailboxes.db", "db");
    for (int i = 0; i < 5000; ++i) WriteText(mail + "/big/" + Name(i), "big " + std::to_string(i));
    WriteText(mail + "/odd/bad\001name", "unsafe");
    WriteText(mail + "/odd/" + SanitizeName("bad\001name", nullptr), "its encoded twin");
    WriteText(mail + "/odd/stray", "to lost+found");
    // A message hard-linked into another user's folder.
    ASSERT_EQ(::link((mail + "/uuid/a/b/ab1111/3.").c_str(), (mail + "/uuid/c/d/cd2222/9.").c_str()), 0);
    MakeImage(t_ / "stage", img(), "64M");
    ASSERT_EQ(Debugfs(img(), "unlink /mail/uuid/e/f/ef3333", true).rc, 0);      // folder: rehomed
    ASSERT_EQ(Debugfs(img(), "unlink /mail/uuid/a/b/ab1111/2.", true).rc, 0);   // message: by GUID
    ASSERT_EQ(Debugfs(img(), "unlink /mail/odd/stray", true).rc, 0);            // lost+found
    sha_ = Sha256(img());
  }
  void TearDown() override { EXPECT_EQ(Sha256(img()), sha_) << "the source image changed"; }
  std::string img() const { return t_ / "img"; }

  SalvageOptions Opts(const std::string& out, int jobs, bool spill, std::size_t threshold = 0) const {
    SalvageOptions o;
    o.source = img();
    o.out_dir = out;
    o.jobs = jobs;
    if (spill) o.catalog_spill = Spill(threshold);
    return o;
  }

  void ExpectSameCatalog(std::size_t threshold);

  TempDir t_;
  std::string sha_;
};

TEST_F(CatalogSpill, SpilledCatalogIsTheSameNodeForNode) {
  for (std::size_t threshold : {std::size_t{0}, std::size_t{256} << 10}) {
    SCOPED_TRACE("threshold " + std::to_string(threshold));
    ExpectSameCatalog(threshold);
  }
}

void CatalogSpill::ExpectSameCatalog(std::size_t threshold) {
  auto heap = Salvager::Open(Opts(t_ / "heap", 1, false));
  auto disk = Salvager::Open(Opts(t_ / "disk", 1, true, threshold));
  ASSERT_TRUE(heap.ok() && disk.ok());
  ASSERT_TRUE((*heap)->Scan().ok());
  ASSERT_TRUE((*disk)->Scan().ok());
  const Catalog& a = (*heap)->catalog();
  const Catalog& b = (*disk)->catalog();
  EXPECT_EQ(a.space->files(), 0u);
  EXPECT_GE(b.space->files(), 4u) << "nodes, names, out names, members at least";
  EXPECT_GT(b.space->trims(), 0u);
  EXPECT_TRUE(b.tree.names.spilled());  // at 256 KiB: after 64 KiB of names on the heap
  EXPECT_TRUE(b.out_name.spilled());
  EXPECT_TRUE(b.member_nodes.spilled());
  if (threshold == 0) {
    EXPECT_TRUE(b.tree.nodes.spilled());
  }
  ASSERT_EQ(a.tree.nodes.size(), b.tree.nodes.size());
  std::size_t differ = 0;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(a.tree.nodes.size()); ++i) {
    const Node& x = a.tree.nodes[i];
    const Node& y = b.tree.nodes[i];
    const bool same = x.ino == y.ino && x.parent == y.parent && x.type == y.type && x.resynced == y.resynced &&
                      a.tree.Name(i) == b.tree.Name(i) && a.Extracted(i) == b.Extracted(i) &&
                      a.OutPath(i) == b.OutPath(i);
    if (!same && differ < 5) ADD_FAILURE() << "node " << i << ": " << a.OutPath(i) << " vs " << b.OutPath(i);
    differ += !same;
  }
  EXPECT_EQ(differ, 0u);
  EXPECT_EQ(a.group_names, b.group_names);
  for (std::int32_t g = 0; g < static_cast<std::int32_t>(a.group_names.size()); ++g) {
    const auto ma = a.Members(g), mb = b.Members(g);
    EXPECT_EQ(std::vector<std::int32_t>(ma.begin(), ma.end()), std::vector<std::int32_t>(mb.begin(), mb.end()))
        << a.group_names[g];
  }
  ASSERT_EQ(a.damage.size(), b.damage.size());
  for (std::size_t i = 0; i < a.damage.size(); ++i) EXPECT_EQ(a.damage[i].detail, b.damage[i].detail);
  EXPECT_EQ(a.dir_nodes, b.dir_nodes);
  EXPECT_EQ(a.other_nodes, b.other_nodes);
  // What this image is for: each case happened.
  EXPECT_EQ(a.rehomed_dirs, 1u);
  EXPECT_EQ(a.rehomed_files, 1u);
  EXPECT_EQ(a.lost_found.size(), 1u);
  std::set<std::string> kinds;
  for (const auto& d : a.damage) kinds.insert(d.kind);
  EXPECT_TRUE(kinds.count("name_collision") && kinds.count("unsafe_name")) << a.damage.size();
  EXPECT_EQ(a.group_names.size(), 4u);  // config, rest, bob, carol
}

TEST_F(CatalogSpill, SalvageWritesTheSameManifestAndTreeForAnyJobsAndOnResume) {
  for (int jobs : {1, 2}) {
    const std::string j = std::to_string(jobs);
    auto h = RunSalvage(Opts(t_ / ("heap" + j), jobs, false), RunOptions{}, nullptr);
    auto d = RunSalvage(Opts(t_ / ("disk" + j), jobs, true, jobs == 1 ? 0 : 256u << 10), RunOptions{}, nullptr);
    ASSERT_TRUE(h.ok()) << h.error().message;
    ASSERT_TRUE(d.ok()) << d.error().message;
    const std::string mh = ReadText(t_ / ("heap" + j + "/salvage.json"));
    EXPECT_EQ(mh, ReadText(t_ / ("disk" + j + "/salvage.json"))) << "jobs " << jobs;
    EXPECT_EQ(TreeOf(t_ / ("heap" + j)), TreeOf(t_ / ("disk" + j))) << "jobs " << jobs;
    // Resume into the spilled run's output, with one file gone: the same again.
    fs::remove(t_ / ("disk" + j + "/spool/uuid/c/d/cd2222/1."));
    auto r = RunSalvage(Opts(t_ / ("disk" + j), jobs, true, jobs == 1 ? 256u << 10 : 0), RunOptions{}, nullptr);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(mh, ReadText(t_ / ("disk" + j + "/salvage.json"))) << "resume, jobs " << jobs;
    EXPECT_EQ(TreeOf(t_ / ("heap" + j)), TreeOf(t_ / ("disk" + j))) << "resume, jobs " << jobs;
    for (const auto& e : fs::directory_iterator(t_ / ("disk" + j)))
      EXPECT_EQ(e.path().filename().string().find(".salvage-catalog-"), std::string::npos) << e.path();
  }
}

TEST_F(CatalogSpill, UnwritableSpillDirectoryIsAnErrorNamingTheFile) {
  SalvageOptions o = Opts(t_ / "out", 1, true);
  o.spill_dir = "/nonexistent/spill";
  auto r = RunSalvage(o, RunOptions{}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kIoError);
  EXPECT_NE(r.error().message.find("/nonexistent/spill/.salvage-catalog-"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace mr::salvage
