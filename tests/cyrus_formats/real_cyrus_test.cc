// Round trips against stores that a real Cyrus 3.6 wrote (built by
// make_cyrus_store.py in the ctest fixture cyrus_formats_store): every
// cyrus.index / cyrus.header parses and re-serializes to identical bytes,
// derived header fields and sync CRCs recompute to the stored values, message
// facts match the records, cache records check, the layout maps names to the
// directories Cyrus used, and `reconstruct -n` accepts files we rewrote.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/crc32.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/imapd_conf.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/message.h"

namespace fs = std::filesystem;
using namespace mr::cyrus;

namespace {

const char* kCyrusBin = "/usr/lib/cyrus/bin";

std::string StoreRoot(const std::string& layout) {
  return std::string(MR_BINARY_DIR) + "/cyrus-formats/" + layout;
}

struct Folder {
  std::string dir;  // absolute
  std::string rel;  // relative to the spool
  std::vector<std::uint8_t> header_bytes, index_bytes, cache_bytes;
  MailboxHeader header;
  IndexFile index;
};

std::vector<std::uint8_t> Read(const std::string& p) {
  auto r = mr::ReadFile(p);
  EXPECT_TRUE(r.ok()) << p << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : std::vector<std::uint8_t>{};
}

std::vector<Folder> LoadFolders(const std::string& spool) {
  std::vector<Folder> out;
  if (!fs::exists(spool)) return out;
  for (const auto& e : fs::recursive_directory_iterator(spool)) {
    if (e.path().filename() != "cyrus.header") continue;
    Folder f;
    f.dir = e.path().parent_path().string();
    f.rel = fs::relative(e.path().parent_path(), spool).string();
    f.header_bytes = Read(f.dir + "/cyrus.header");
    f.index_bytes = Read(f.dir + "/cyrus.index");
    if (fs::exists(f.dir + "/cyrus.cache")) f.cache_bytes = Read(f.dir + "/cyrus.cache");
    auto h = ParseHeader(f.header_bytes);
    EXPECT_TRUE(h.ok()) << f.dir << ": " << (h.ok() ? "" : h.error().message);
    if (h.ok()) f.header = *h;
    auto ix = ParseIndex(f.index_bytes);
    EXPECT_TRUE(ix.ok()) << f.dir << ": " << (ix.ok() ? "" : ix.error().message);
    if (ix.ok()) f.index = *ix;
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const Folder& a, const Folder& b) { return a.header.name < b.header.name; });
  return out;
}

// Per-message annotations the store builder set, keyed by internal name.
std::map<std::string, AnnotationsForCrc> LoadAnnotations(const std::string& root) {
  std::map<std::string, AnnotationsForCrc> out;
  std::ifstream in(root + "/expect.json");
  if (!in) return out;
  auto j = nlohmann::json::parse(in);
  for (const auto& a : j["annotations"]) {
    // All annotations in the builder are set by bob.
    const std::string name = mr::InternalName("bob", a["folder"].get<std::string>());
    out[name].push_back({a["uid"].get<std::uint32_t>(), a["entry"].get<std::string>(),
                         a["userid"].get<std::string>(), a["value"].get<std::string>()});
  }
  return out;
}

std::string Run(const std::string& cmd, int* status) {
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

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) out.push_back(l);
  return out;
}

class RealCyrus : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    root_ = StoreRoot(GetParam());
    ASSERT_TRUE(fs::exists(root_ + "/spool")) << "store missing: " << root_
                                               << " (fixture cyrus_formats_store)";
    folders_ = LoadFolders(root_ + "/spool");
    ASSERT_GE(folders_.size(), 6u);
  }
  std::string root_;
  std::vector<Folder> folders_;
};

TEST_P(RealCyrus, IndexReserializesToIdenticalBytes) {
  for (const Folder& f : folders_) {
    EXPECT_EQ(f.index.header.minor_version, 17u) << f.dir;
    EXPECT_TRUE(f.index.problems.empty()) << f.dir;
    EXPECT_EQ(f.index.records.size(), f.index.header.num_records) << f.dir;
    const auto again = SerializeIndex(f.index.header, f.index.records);
    EXPECT_EQ(again, f.index_bytes) << f.dir;
  }
}

TEST_P(RealCyrus, HeaderReserializesToIdenticalBytesAndMatchesIndexCrc) {
  for (const Folder& f : folders_) {
    const std::string again = SerializeHeader(f.header);
    EXPECT_EQ(again, std::string(f.header_bytes.begin(), f.header_bytes.end())) << f.dir;
    EXPECT_EQ(Crc32(f.header_bytes), f.index.header.header_file_crc) << f.dir;
    EXPECT_FALSE(f.header.uniqueid.empty());
    EXPECT_EQ(mr::UserOf(f.header.name).empty(), false) << f.header.name;
  }
}

TEST_P(RealCyrus, FinalizeRecomputesStoredCountsAndSyncCrcs) {
  const auto annots = LoadAnnotations(root_);
  int with_annots = 0;
  for (const Folder& f : folders_) {
    IndexHeader h = f.index.header;
    // Scramble what Finalize must recompute.
    h.exists = h.deleted = h.answered = h.flagged = h.unseen = 12345;
    h.sync_crc = h.sync_crc_annot = 0xdeadbeef;
    h.quota_mailbox_used = 7;
    h.first_expunged = 99;
    h.num_records = 0;
    auto it = annots.find(f.header.name);
    const AnnotationsForCrc* a = it == annots.end() ? nullptr : &it->second;
    if (a) ++with_annots;
    FinalizeIndexHeader(h, f.index.records, f.header.user_flags, a);
    const IndexHeader& s = f.index.header;
    EXPECT_EQ(h.num_records, s.num_records) << f.dir;
    EXPECT_EQ(h.exists, s.exists) << f.dir;
    EXPECT_EQ(h.deleted, s.deleted) << f.dir;
    EXPECT_EQ(h.answered, s.answered) << f.dir;
    EXPECT_EQ(h.flagged, s.flagged) << f.dir;
    EXPECT_EQ(h.unseen, s.unseen) << f.dir;
    EXPECT_EQ(h.quota_mailbox_used, s.quota_mailbox_used) << f.dir;
    EXPECT_EQ(h.first_expunged, s.first_expunged) << f.dir;
    EXPECT_EQ(h.last_uid, s.last_uid) << f.dir;
    EXPECT_EQ(h.highestmodseq, s.highestmodseq) << f.dir;
    EXPECT_EQ(h.sync_crc, s.sync_crc) << f.dir << " " << f.header.name;
    EXPECT_EQ(h.sync_crc_annot, s.sync_crc_annot) << f.dir << " " << f.header.name;
    EXPECT_EQ(SerializeIndex(h, f.index.records), f.index_bytes) << f.dir;
  }
  EXPECT_EQ(with_annots, 1);
}

TEST_P(RealCyrus, MessageFactsMatchRecords) {
  int checked = 0;
  for (const Folder& f : folders_) {
    for (const IndexRecord& r : f.index.records) {
      const std::string path = f.dir + "/" + std::to_string(r.uid) + ".";
      if (!fs::exists(path)) continue;
      auto m = ParseMessageFile(path);
      ASSERT_TRUE(m.ok()) << path;
      EXPECT_EQ(m->size, r.size) << path;
      EXPECT_EQ(m->header_size, r.header_size) << path;
      EXPECT_EQ(m->sentdate, r.sentdate) << path;
      EXPECT_EQ(m->gmtime, r.gmtime) << path;
      EXPECT_EQ(mr::ToHex(m->guid), mr::ToHex(r.guid)) << path;
      struct stat st;
      ASSERT_EQ(::stat(path.c_str(), &st), 0);
      EXPECT_EQ(st.st_mtime, r.internaldate) << path << " (mtime = INTERNALDATE)";
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

TEST_P(RealCyrus, CacheRecordsCheckAgainstIndex) {
  int checked = 0;
  for (const Folder& f : folders_) {
    if (f.index.records.empty()) continue;
    ASSERT_FALSE(f.cache_bytes.empty()) << f.dir;
    auto gen = CacheGeneration(f.cache_bytes);
    ASSERT_TRUE(gen.ok());
    EXPECT_EQ(*gen, f.index.header.generation_no) << f.dir;
    for (const IndexRecord& r : f.index.records) {
      auto rec = CacheRecordAt(f.cache_bytes, r.cache_offset);
      ASSERT_TRUE(rec.ok()) << f.dir << " uid " << r.uid << ": " << rec.error().message;
      EXPECT_EQ(CacheRecordCrc(*rec), r.cache_crc) << f.dir << " uid " << r.uid;
      auto items = CacheItems(*rec);
      ASSERT_TRUE(items.ok());
      EXPECT_EQ(items->size(), 10u);
      EXPECT_EQ(r.cache_version, kCacheVersion);
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

TEST_P(RealCyrus, LayoutMapsNamesToCyrusDirectories) {
  const bool legacy = GetParam() == "legacy";
  for (const Folder& f : folders_) {
    const auto layout = legacy ? mr::CyrusLayout::kLegacy : mr::CyrusLayout::kUuid;
    EXPECT_EQ(mr::MailboxRelDir(f.header.name, f.header.uniqueid, layout, true), f.rel);
    if (legacy) {
      EXPECT_EQ(f.header.type, "el");
      auto back = mr::MailboxFromLegacyRelDir(f.rel, true);
      ASSERT_TRUE(back.has_value()) << f.rel;
      EXPECT_EQ(*back, f.header.name);
    } else {
      EXPECT_EQ(f.header.type, "e");
      auto id = mr::UniqueidFromUuidRelDir(f.rel);
      ASSERT_TRUE(id.has_value()) << f.rel;
      EXPECT_EQ(*id, f.header.uniqueid);
    }
  }
}

TEST_P(RealCyrus, ImapdConfLocatesTheStore) {
  auto c = ReadImapdConf(root_ + "/imapd.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->configdirectory, root_ + "/conf");
  EXPECT_EQ(c->partition_default, root_ + "/spool");
  EXPECT_TRUE(c->hashimapspool);
  EXPECT_EQ(c->legacy_dirs, GetParam() == "legacy");
}

// A private copy of the store whose imapd.conf points at the copy.
std::string CopyStore(const std::string& root, const std::string& tag) {
  const std::string work = root + "-work-" + tag + "-" + std::to_string(::getpid());
  fs::remove_all(work);
  fs::copy(root, work, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  std::ifstream in(root + "/imapd.conf");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string conf = ss.str();
  for (std::size_t p; (p = conf.find(root + "/")) != std::string::npos;)
    conf.replace(p, root.size(), work);
  std::ofstream(work + "/imapd.conf") << conf;
  return work;
}

void Chown(const std::string& dir) {
  int st;
  const std::string out = Run("chown -R cyrus:mail '" + dir + "'", &st);
  ASSERT_EQ(st, 0) << out;
}

// `reconstruct -n` output lines that are not just a mailbox name.
std::vector<std::string> ReconstructFindings(const std::string& conf,
                                             const std::set<std::string>& names, bool fix) {
  std::vector<std::string> findings;
  for (const char* user : {"user.bob", "user.alice"}) {
    int st;
    const std::string out = Run(std::string(kCyrusBin) + "/reconstruct -C '" + conf + "' " +
                                    (fix ? "" : "-n ") + "-r " + user,
                                &st);
    EXPECT_EQ(st, 0) << out;
    for (const std::string& l : Lines(out))
      if (!names.count(l)) findings.push_back(l);
  }
  return findings;
}

void WriteBytes(const std::string& path, std::span<const std::uint8_t> b) {
  ASSERT_TRUE(mr::WriteFileAtomic(path, b, false).ok()) << path;
}

TEST_P(RealCyrus, ReconstructAcceptsRewrittenMetadata) {
  const std::string work = CopyStore(root_, "rewrite");
  const auto annots = LoadAnnotations(root_);
  std::set<std::string> names;
  for (const Folder& orig : folders_) {
    names.insert(orig.header.name);
    const std::string dir = work + "/spool/" + orig.rel;
    // Rebuild everything from the parsed values: header, then cache (records
    // carried over in uid order, new offsets), then index with the new CRCs.
    const std::string header = SerializeHeader(orig.header);
    ASSERT_TRUE(mr::WriteFileAtomic(dir + "/cyrus.header", header, false).ok());
    std::vector<IndexRecord> recs = orig.index.records;
    IndexHeader h = orig.index.header;
    if (!recs.empty()) {
      CacheWriter cw(h.generation_no);
      for (IndexRecord& r : recs) {
        auto rec = CacheRecordAt(orig.cache_bytes, r.cache_offset);
        ASSERT_TRUE(rec.ok());
        r.cache_offset = cw.Append(*rec);
      }
      WriteBytes(dir + "/cyrus.cache", cw.bytes());
    }
    h.header_file_crc = Crc32(header);
    auto it = annots.find(orig.header.name);
    FinalizeIndexHeader(h, recs, orig.header.user_flags,
                        it == annots.end() ? nullptr : &it->second);
    WriteBytes(dir + "/cyrus.index", SerializeIndex(h, recs));
  }
  Chown(work);
  EXPECT_EQ(ReconstructFindings(work + "/imapd.conf", names, false),
            std::vector<std::string>{});
  fs::remove_all(work);
}

TEST_P(RealCyrus, ReconstructSeesDamageWeIntroduce) {
  // Control for the test above: a wrong sync_crc / count must be reported.
  const std::string work = CopyStore(root_, "damage");
  std::set<std::string> names;
  for (const Folder& orig : folders_) names.insert(orig.header.name);
  const Folder& inbox = *std::find_if(folders_.begin(), folders_.end(),
                                      [](const Folder& f) { return f.header.name == "user.bob"; });
  IndexHeader h = inbox.index.header;
  h.exists += 1;
  h.sync_crc ^= 1;
  WriteBytes(work + "/spool/" + inbox.rel + "/cyrus.index",
             SerializeIndex(h, inbox.index.records));
  Chown(work);
  EXPECT_FALSE(ReconstructFindings(work + "/imapd.conf", names, false).empty());
  fs::remove_all(work);
}

TEST_P(RealCyrus, ReconstructChecksAnnotationsInSyncCrcAnnot) {
  // Finalizing without the folder's message annotations gives a
  // sync_crc_annot that reconstruct reports ("updating sync_crc_annot"):
  // callers that carry cyrus.annotations must pass them.
  const std::string work = CopyStore(root_, "annot");
  std::set<std::string> names;
  for (const Folder& orig : folders_) names.insert(orig.header.name);
  const Folder& inbox = *std::find_if(folders_.begin(), folders_.end(),
                                      [](const Folder& f) { return f.header.name == "user.bob"; });
  IndexHeader h = inbox.index.header;
  FinalizeIndexHeader(h, inbox.index.records, inbox.header.user_flags, nullptr);
  ASSERT_NE(h.sync_crc_annot, inbox.index.header.sync_crc_annot);
  WriteBytes(work + "/spool/" + inbox.rel + "/cyrus.index", SerializeIndex(h, inbox.index.records));
  Chown(work);
  const auto findings = ReconstructFindings(work + "/imapd.conf", names, false);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_NE(findings[0].find("sync_crc_annot"), std::string::npos) << findings[0];
  fs::remove_all(work);
}

TEST_P(RealCyrus, MissingCacheRecordsAreRebuiltByReconstruct) {
  // Records written with cache_offset = cache_crc = 0 and no cyrus.cache:
  // `reconstruct -n` is silent, `reconstruct` rebuilds exactly those records
  // (byte-identical to the originals) and keeps uids and flags, but gives
  // each rebuilt record a new modseq (docs/formats.md).
  const std::string work = CopyStore(root_, "nocache");
  std::set<std::string> names;
  for (const Folder& orig : folders_) names.insert(orig.header.name);
  const Folder& inbox = *std::find_if(folders_.begin(), folders_.end(),
                                      [](const Folder& f) { return f.header.name == "user.bob"; });
  std::vector<IndexRecord> recs = inbox.index.records;
  for (IndexRecord& r : recs) r.cache_offset = r.cache_crc = 0;
  const std::string dir = work + "/spool/" + inbox.rel;
  WriteBytes(dir + "/cyrus.index", SerializeIndex(inbox.index.header, recs));
  fs::remove(dir + "/cyrus.cache");
  Chown(work);
  EXPECT_EQ(ReconstructFindings(work + "/imapd.conf", names, false), std::vector<std::string>{});
  const auto fixed = ReconstructFindings(work + "/imapd.conf", names, true);
  EXPECT_EQ(fixed.size(), recs.size());
  for (const std::string& l : fixed) EXPECT_NE(l.find("rewrote cache for"), std::string::npos) << l;
  auto after = ReadIndexFile(dir + "/cyrus.index");
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->records.size(), inbox.index.records.size());
  auto cache = mr::ReadFile(dir + "/cyrus.cache");
  ASSERT_TRUE(cache.ok());
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const IndexRecord& a = after->records[i];
    const IndexRecord& b = inbox.index.records[i];
    EXPECT_EQ(a.uid, b.uid);
    EXPECT_EQ(a.system_flags, b.system_flags);
    EXPECT_EQ(a.user_flags, b.user_flags);
    EXPECT_GT(a.modseq, b.modseq);
    auto rec = CacheRecordAt(*cache, a.cache_offset);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(CacheRecordCrc(*rec), a.cache_crc);
    // Cyrus regenerates the same bytes it wrote at append time.
    auto old_rec = CacheRecordAt(inbox.cache_bytes, b.cache_offset);
    ASSERT_TRUE(old_rec.ok());
    EXPECT_TRUE(std::equal(rec->begin(), rec->end(), old_rec->begin(), old_rec->end()))
        << "uid " << a.uid;
  }
  // Our derived fields agree with what reconstruct wrote.
  IndexHeader h = after->header;
  h.sync_crc = 0;
  const auto annots = LoadAnnotations(root_);
  FinalizeIndexHeader(h, after->records, inbox.header.user_flags, &annots.at("user.bob"));
  EXPECT_EQ(h.sync_crc, after->header.sync_crc);
  EXPECT_EQ(h.sync_crc_annot, after->header.sync_crc_annot);
  EXPECT_EQ(h.highestmodseq, after->header.highestmodseq);
  fs::remove_all(work);
}

INSTANTIATE_TEST_SUITE_P(Layouts, RealCyrus, ::testing::Values("uuid", "legacy"));

}  // namespace
