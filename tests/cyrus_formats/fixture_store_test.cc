// The team's fixture stores (fixtures/build_all.py: small-uuid, small-legacy,
// both snapshots; written by a real Cyrus 3.6 driven over IMAP): every
// cyrus.index / cyrus.header round-trips to identical bytes, the derived
// header fields and both sync CRCs recompute to the stored values (message
// annotations read from cyrus.annotations), and a copy whose header, cache
// and index we rewrote from parsed values passes fixtures/cyrus_env.py check
// (reconstruct -n on every user).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/fsutil.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/crc32.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/verify_annot.h"

namespace fs = std::filesystem;
using namespace mr::cyrus;

namespace {

std::string SetDir(const std::string& set) {
  return std::string(MR_BINARY_DIR) + "/fixture-data/" + set;
}

std::vector<std::string> FolderDirs(const std::string& spool) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(spool))
    if (e.path().filename() == "cyrus.header") out.push_back(e.path().parent_path().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct Param {
  std::string set;
  std::string snapshot;
};

void PrintTo(const Param& p, std::ostream* os) { *os << p.set << "/" << p.snapshot; }

class FixtureStore : public ::testing::TestWithParam<Param> {};

TEST_P(FixtureStore, MetadataRoundTripsAndCrcsRecompute) {
  const std::string spool = SetDir(GetParam().set) + "/" + GetParam().snapshot + "/spool";
  ASSERT_TRUE(fs::exists(spool)) << spool << " missing (fixture cyrus_store)";
  const auto dirs = FolderDirs(spool);
  ASSERT_GE(dirs.size(), 4u);
  std::size_t records = 0;
  for (const std::string& d : dirs) {
    auto hb = mr::ReadFile(d + "/cyrus.header");
    auto ib = mr::ReadFile(d + "/cyrus.index");
    ASSERT_TRUE(hb.ok() && ib.ok()) << d;
    auto h = ParseHeader(*hb);
    ASSERT_TRUE(h.ok()) << d << ": " << h.error().message;
    EXPECT_EQ(SerializeHeader(*h), std::string(hb->begin(), hb->end())) << d;
    auto ix = ParseIndex(*ib);
    ASSERT_TRUE(ix.ok()) << d << ": " << ix.error().message;
    EXPECT_TRUE(ix->problems.empty()) << d;
    EXPECT_EQ(SerializeIndex(ix->header, ix->records), *ib) << d;
    EXPECT_EQ(Crc32(*hb), ix->header.header_file_crc) << d;
    std::vector<std::string> problems;
    auto annots = mr::verify::ReadMessageAnnotations(d + "/cyrus.annotations", &problems);
    ASSERT_TRUE(annots.ok()) << d;
    EXPECT_TRUE(problems.empty()) << d;
    IndexHeader fh = ix->header;
    fh.sync_crc = fh.sync_crc_annot = 0;
    fh.exists = fh.unseen = fh.deleted = fh.flagged = fh.answered = 0;
    FinalizeIndexHeader(fh, ix->records, h->user_flags, &*annots);
    EXPECT_EQ(SerializeIndex(fh, ix->records), *ib) << d << " (" << h->name << ")";
    records += ix->records.size();
  }
  EXPECT_GE(records, 50u);
}

std::string RunCmd(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = ::pclose(p);
  return out;
}

TEST_P(FixtureStore, CyrusAcceptsMetadataWeRewrote) {
  const std::string snap = SetDir(GetParam().set) + "/" + GetParam().snapshot;
  ASSERT_TRUE(fs::exists(snap + "/spool")) << snap;
  const std::string work = std::string(MR_BINARY_DIR) + "/cyrus-formats/fixture-" +
                           GetParam().set + "-" + GetParam().snapshot + "-" +
                           std::to_string(::getpid());
  fs::remove_all(work);
  fs::create_directories(work);
  fs::copy(snap + "/spool", work + "/spool", fs::copy_options::recursive);
  fs::copy(snap + "/conf", work + "/conf", fs::copy_options::recursive);
  for (const std::string& d : FolderDirs(work + "/spool")) {
    auto h = ReadHeaderFile(d + "/cyrus.header");
    auto ix = ReadIndexFile(d + "/cyrus.index");
    ASSERT_TRUE(h.ok() && ix.ok()) << d;
    std::vector<IndexRecord> recs = ix->records;
    IndexHeader ih = ix->header;
    if (!recs.empty()) {
      auto cache = mr::ReadFile(d + "/cyrus.cache");
      ASSERT_TRUE(cache.ok()) << d;
      CacheWriter cw(ih.generation_no);
      for (IndexRecord& r : recs) {
        auto rec = CacheRecordAt(*cache, r.cache_offset);
        ASSERT_TRUE(rec.ok()) << d << ": " << rec.error().message;
        ASSERT_EQ(CacheRecordCrc(*rec), r.cache_crc) << d;
        r.cache_offset = cw.Append(*rec);
      }
      ASSERT_TRUE(mr::WriteFileAtomic(d + "/cyrus.cache", cw.bytes(), false).ok());
    }
    const std::string header = SerializeHeader(*h);
    ASSERT_TRUE(mr::WriteFileAtomic(d + "/cyrus.header", header, false).ok());
    ih.header_file_crc = Crc32(header);
    std::vector<std::string> problems;
    auto annots = mr::verify::ReadMessageAnnotations(d + "/cyrus.annotations", &problems);
    ASSERT_TRUE(annots.ok());
    FinalizeIndexHeader(ih, recs, h->user_flags, &*annots);
    ASSERT_TRUE(mr::WriteFileAtomic(d + "/cyrus.index", SerializeIndex(ih, recs), false).ok());
  }
  int st = 0;
  const std::string out =
      RunCmd("python3 '" + std::string(MR_SOURCE_DIR) + "/fixtures/cyrus_env.py' check --spool '" +
              work + "/spool' --conf '" + work + "/conf'" +
              (GetParam().set == "small-legacy" ? " --legacy" : ""),
          &st);
  EXPECT_EQ(st, 0) << out;
  // And imapd serves it: every user's folders read back over IMAP give the
  // same truth (uids, flags, INTERNALDATE, sizes, SHA1s, uidvalidity) as the
  // store Cyrus wrote itself.
  const std::string truth = work + "/truth.json";
  const std::string out2 = RunCmd(
      "python3 '" + std::string(MR_SOURCE_DIR) + "/fixtures/cyrus_env.py' truth --spool '" +
          work + "/spool' --conf '" + work + "/conf' --out '" + truth + "'" +
          (GetParam().set == "small-legacy" ? " --legacy" : ""),
      &st);
  ASSERT_EQ(st, 0) << out2;
  std::ifstream got_in(truth);
  std::ifstream want_in(SetDir(GetParam().set) + "/truth-" + GetParam().snapshot + ".json");
  ASSERT_TRUE(got_in && want_in);
  const auto got = nlohmann::json::parse(got_in);
  const auto want = nlohmann::json::parse(want_in);
  EXPECT_EQ(got["users"], want["users"]) << nlohmann::json::diff(want, got).dump().substr(0, 2000);
  fs::remove_all(work);
}

INSTANTIATE_TEST_SUITE_P(
    Sets, FixtureStore,
    ::testing::Values(Param{"small-uuid", "backup"}, Param{"small-uuid", "current"},
                      Param{"small-legacy", "backup"}, Param{"small-legacy", "current"}),
    [](const auto& info) {
      std::string n = info.param.set + "_" + info.param.snapshot;
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

}  // namespace
