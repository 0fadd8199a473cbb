// Faults on the output and input sides, through the real binary:
// - EFBIG/"disk full" with `prlimit --fsize=N` on salvage, reconcile and
//   rescue: a clear one-line error, a non-zero exit, no signal death, the
//   users finished before the fault intact, and a rerun after the fault
//   completes (reconcile/rescue outputs verify with exit 0);
// - EACCES: an output directory the (unprivileged) user cannot write;
// - input: a truncated image (exit 3 when nothing is left to open, a report
//   otherwise), unreadable areas through --badmap, a source that shrinks
//   while salvage reads it.
// The source image's SHA-256 is the same after every run.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <thread>

#include "tests/fixtures/fixture_util.h"
#include "tests/salvage/test_util.h"

namespace mr::salvage {
namespace {

using namespace test;
using fixtest::FixtureData;

const std::string kCli = MR_CLI_PATH;

// stdout+stderr and the exit status; rc = -signal when killed by one.
struct RunResult {
  int rc = 0;
  std::string out;
};
RunResult Exec(const std::string& cmd) {
  RunResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  // sh reports a signal death of its child as 128+N.
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (r.rc > 128) r.rc = -(r.rc - 128);
  return r;
}

std::size_t Lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

std::uintmax_t LargestFile(const std::string& root) {
  std::uintmax_t m = 0;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) m = std::max(m, e.file_size());
  return m;
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    set_ = (FixtureData() / "small-uuid").string();
    ASSERT_TRUE(fs::exists(set_ + "/current.img")) << "fixture set missing: " << set_;
    img_ = set_ + "/current.img";
    sha_ = Sha256(img_);
  }
  void TearDown() override { EXPECT_EQ(Sha256(img_), sha_) << "the source image changed"; }

  std::string ReconcileCmd(const std::string& out, const std::string& salvaged) const {
    return kCli + " -q reconcile --salvaged " + Quote(salvaged) + " --backup-spool " +
           Quote(set_ + "/backup/spool") + " --backup-db " + Quote(set_ + "/backup/conf/mailboxes.db") +
           " --out-spool " + Quote(out + "/spool") + " --out-db " + Quote(out + "/conf/mailboxes.db") +
           " --jobs 2 --no-fsync";
  }
  std::string RescueCmd(const std::string& out, const std::string& work) const {
    return kCli + " -q rescue " + Quote(img_) + " --backup-spool " + Quote(set_ + "/backup/spool") +
           " --backup-db " + Quote(set_ + "/backup/conf/mailboxes.db") + " --out-spool " +
           Quote(out + "/spool") + " --out-db " + Quote(out + "/conf/mailboxes.db") + " --workdir " +
           Quote(work) + " --jobs 2 --no-fsync";
  }
  RunResult Verify(const std::string& out) const {
    return Exec(kCli + " -q verify --spool " + Quote(out + "/spool") + " --db " + Quote(out + "/conf/mailboxes.db"));
  }
  // Half the largest message file: some file of the run must exceed it.
  std::string FsizeLimit() const {
    return std::to_string(LargestFile(set_ + "/current/spool") / 2);
  }

  TempDir tmp_;
  std::string set_, img_, sha_;
};

// Non-zero, not a signal death, and the cause named. (salvage exits 2 on an
// output I/O error: the --out argument cannot be used, "bad input".)
void ExpectCleanFailure(const RunResult& r, const std::string& what, bool one_line = true) {
  EXPECT_GT(r.rc, 0) << what << " died by a signal or succeeded: rc=" << r.rc << "\n" << r.out;
  if (one_line) {
    EXPECT_EQ(Lines(r.out), 1u) << what << ": want one line\n" << r.out;
  }
  EXPECT_NE(r.out.find("File too large"), std::string::npos) << what << ": cause not named\n" << r.out;
}

TEST_F(Faults, SalvageOnAFullDiskStopsWithOneLineAndTheRerunCompletes) {
  const std::string ref = tmp_ / "ref", out = tmp_ / "out";
  auto good = Exec(kCli + " -q salvage " + Quote(img_) + " --out " + Quote(ref) + " --jobs 2");
  ASSERT_TRUE(good.rc == 0 || good.rc == 1) << good.out;
  auto r = Exec("prlimit --fsize=" + FsizeLimit() + " " + kCli + " -q salvage " + Quote(img_) + " --out " +
                Quote(out) + " --jobs 2");
  ExpectCleanFailure(r, "salvage");
  EXPECT_EQ(r.rc, 2) << r.out;
  auto again = Exec(kCli + " -q salvage " + Quote(img_) + " --out " + Quote(out) + " --jobs 2");
  EXPECT_EQ(again.rc, good.rc) << again.out;
  auto a = ReadManifest(ref), b = ReadManifest(out);
  ASSERT_TRUE(a.contains("files") && b.contains("files"));
  EXPECT_EQ(a["files"], b["files"]) << "the rerun after the fault differs from an unfaulted run";
  EXPECT_EQ(a["totals"], b["totals"]);
}

// The output goes to /dev/shm so messages are copied, not hard-linked from the
// inputs (links never hit a file-size limit).
TEST_F(Faults, ReconcileOnAFullDiskKeepsEarlierUsersAndTheRerunVerifies) {
  std::string shm = "/dev/shm/mr-faults-XXXXXX";
  const std::string out = ::mkdtemp(shm.data()) ? shm : tmp_ / "out";
  const std::string report = tmp_ / "r.json";
  auto r = Exec("prlimit --fsize=" + FsizeLimit() + " " + ReconcileCmd(out, set_ + "/current") + " --report " +
                Quote(report));
  EXPECT_GT(r.rc, 0) << r.out;
  auto rep = nlohmann::json::parse(ReadText(report), nullptr, false);
  ASSERT_FALSE(rep.is_discarded());
  std::string done_users, failed;
  for (const auto& u : rep["users"]) {
    if (u.value("done", false)) {
      done_users += u["user"].get<std::string>() + "\n";
    } else {
      failed += u.dump();
    }
  }
  EXPECT_NE(failed.find("File too large"), std::string::npos) << "the fault is not named per user: " << failed;
  ASSERT_FALSE(done_users.empty()) << "no user survived a per-file limit";
  // Users finished before/around the fault are intact (the db is written for them).
  WriteText(tmp_ / "done.txt", done_users);
  if (fs::exists(out + "/conf/mailboxes.db")) {
    auto vd = Exec(kCli + " -q verify --spool " + Quote(out + "/spool") + " --db " +
                   Quote(out + "/conf/mailboxes.db") + " --users " + Quote(tmp_ / "done.txt"));
    EXPECT_EQ(vd.rc, 0) << vd.out;
  }
  auto again = Exec(ReconcileCmd(out, set_ + "/current"));
  EXPECT_TRUE(again.rc == 0 || again.rc == 1) << again.out;
  auto v = Verify(out);
  EXPECT_EQ(v.rc, 0) << v.out;
  if (out.rfind("/dev/shm/", 0) == 0) fs::remove_all(out);
}

TEST_F(Faults, RescueOnAFullDiskStopsCleanlyAndTheRerunVerifies) {
  const std::string out = tmp_ / "out", work = tmp_ / "work";
  auto r = Exec("prlimit --fsize=" + FsizeLimit() + " " + RescueCmd(out, work));
  ExpectCleanFailure(r, "rescue", /*one_line=*/false);
  auto again = Exec(RescueCmd(out, work));
  EXPECT_TRUE(again.rc == 0 || again.rc == 1) << again.out;
  auto v = Verify(out);
  EXPECT_EQ(v.rc, 0) << v.out;
}

TEST_F(Faults, PermissionDeniedOnTheOutputIsOneLineAndNonZero) {
  // Root ignores modes: run as nobody, with a world-readable copy-free path to the image.
  const std::string base = tmp_.path();
  ::chmod(base.c_str(), 0755);
  const std::string ro = base + "/readonly-out";
  fs::create_directories(ro);
  ::chmod(ro.c_str(), 0555);
  auto r = Exec("setpriv --reuid=65534 --regid=65534 --clear-groups " + kCli + " -q salvage " + Quote(img_) +
                " --out " + Quote(ro + "/sub") + " --jobs 1");
  if (r.out.find(img_) != std::string::npos && r.out.find("ermission denied") != std::string::npos &&
      r.out.find("sub") == std::string::npos) {
    GTEST_FAIL() << "the fixture image is not readable by nobody: " << r.out;
  }
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("ermission denied"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(ro + "/sub"));
  auto rr = Exec("setpriv --reuid=65534 --regid=65534 --clear-groups " + ReconcileCmd(ro + "/o", set_ + "/current"));
  EXPECT_GT(rr.rc, 0) << rr.out;
  EXPECT_EQ(Lines(rr.out), 1u) << rr.out;
}

TEST_F(Faults, TruncatedImages) {
  const std::string tiny = tmp_ / "tiny.img", half = tmp_ / "half.img";
  ASSERT_EQ(Exec("head -c 4096 " + Quote(img_) + " > " + Quote(tiny)).rc, 0);
  auto r = Exec(kCli + " -q salvage " + Quote(tiny) + " --out " + Quote(tmp_ / "o1"));
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
  // Cut at half: what is left is salvaged and reported.
  ASSERT_EQ(Exec("cp --sparse=always " + Quote(img_) + " " + Quote(half) + " && truncate -s " +
                 std::to_string(fs::file_size(img_) / 2) + " " + Quote(half)).rc, 0);
  auto h = Exec(kCli + " -q salvage " + Quote(half) + " --out " + Quote(tmp_ / "o2") + " --report " +
                Quote(tmp_ / "o2.json"));
  EXPECT_TRUE(h.rc == 0 || h.rc == 1 || h.rc == 3) << h.out;
  if (h.rc != 3) {
    EXPECT_TRUE(fs::exists(tmp_ / "o2.json"));
  }
}

TEST_F(Faults, UnreadableAreasFromABadmapAreReportedNotFatal) {
  const std::string copy = tmp_ / "c.img", map = tmp_ / "c.map";
  ASSERT_EQ(Exec("cp --sparse=always " + Quote(img_) + " " + Quote(copy)).rc, 0);
  auto d = Exec("bash " + std::string(MR_SOURCE_DIR) + "/fixtures/damage/badmap.sh " + Quote(copy) + " " +
                Quote(map) + " 40");
  ASSERT_EQ(d.rc, 0) << d.out;
  auto r = Exec(kCli + " -q salvage " + Quote(copy) + " --out " + Quote(tmp_ / "o") + " --badmap " + Quote(map) +
                " --report " + Quote(tmp_ / "r.json"));
  EXPECT_EQ(r.rc, 1) << r.out;
  auto m = ReadManifest(tmp_ / "o");
  EXPECT_GT(m["totals"]["damaged_files"].get<int>() + static_cast<int>(m["filesystem"]["damage"].size()), 0);
}

TEST_F(Faults, SourceShrinkingWhileSalvageReadsEndsInOrder) {
  const std::string copy = tmp_ / "s.img";
  ASSERT_EQ(Exec("cp --sparse=always " + Quote(img_) + " " + Quote(copy)).rc, 0);
  const auto size = fs::file_size(copy);
  // Shrink to a third shortly after the start, while the walk and extraction run.
  std::thread shrink([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    fs::resize_file(copy, size / 3);
  });
  auto r = Exec("timeout 60 " + kCli + " -q salvage " + Quote(copy) + " --out " + Quote(tmp_ / "o") +
                " --jobs 2 --report " + Quote(tmp_ / "r.json"));
  shrink.join();
  EXPECT_TRUE(r.rc == 0 || r.rc == 1 || r.rc == 3) << "rc=" << r.rc << "\n" << r.out;
  if (r.rc == 0 || r.rc == 1) {
    EXPECT_TRUE(fs::exists(tmp_ / "r.json"));
  }
}

}  // namespace
}  // namespace mr::salvage
