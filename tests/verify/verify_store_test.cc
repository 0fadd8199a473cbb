// verify against stores written by real Cyrus 3.6 (both layouts): the
// pristine store is consistent, and each single damage is found and named
// precisely (exit 1, the exact finding line, nothing about other mailboxes).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/cyrus_layout.h"
#include "common/sha1.h"
#include "reconcile/cyrus/header.h"
#include "reconcile/cyrus/index.h"
#include "reconcile/verify.h"
#include "tests/verify/store_fixture.h"

namespace mr::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class VerifyStore : public ::testing::TestWithParam<std::string> {
 protected:
  StoreDirs Fresh() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->name());
    std::replace(name.begin(), name.end(), '/', '_');
    return CopyStore(PristineStore(GetParam()), name);
  }
  static RunResult Verify(const StoreDirs& s, const std::string& extra = "") {
    return RunCli("-q verify --spool " + s.spool() + " --db " + s.db() + " " + extra);
  }
  // Every finding is about `mailbox` (no collateral noise elsewhere).
  static void AllAbout(const RunResult& r, const std::string& mailbox) {
    for (const auto& l : r.lines()) EXPECT_EQ(l.rfind(mailbox + ": ", 0), 0u) << l;
  }
};

TEST_P(VerifyStore, PristineStoreIsConsistent) {
  StoreDirs s = PristineStore(GetParam());
  RunResult r = Verify(s);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_THAT(r.lines(), IsEmpty());
  // The same store named by its imapd.conf (spool, db and layout from it).
  RunResult c = RunCli("-q verify --conf " + s.root + "/imapd.conf");
  EXPECT_EQ(c.rc, 0) << c.out;
}

TEST_P(VerifyStore, ApiCountsEveryLiveMessage) {
  StoreDirs s = PristineStore(GetParam());
  verify::VerifyOptions o;
  o.spool = s.spool();
  o.db = s.db();
  auto out = verify::VerifyAll(o);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_TRUE(out->ok());
  EXPECT_GE(out->totals.users, 3u);
  EXPECT_EQ(out->totals.users, out->totals.users_ok);
  std::uint64_t live = 0, folders = 0;
  auto entries = cyrus::ReadMailboxesDb(s.db());
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) {
    if (e.deleted()) continue;
    ++folders;
  }
  FolderAt f = PickFolder(s, 1);
  live = f.live().size();
  EXPECT_EQ(out->totals.folders, folders);
  EXPECT_GE(out->totals.messages, live);
  for (const auto& u : out->users) EXPECT_GT(u.messages, 0u) << u.user;
}

TEST_P(VerifyStore, FlippedByteInMessageFile) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 2);
  const cyrus::IndexRecord& r = *f.live()[1];
  std::string path = f.dir + "/" + std::to_string(r.uid) + ".";
  auto bytes = Slurp(path);
  bytes[bytes.size() / 2] ^= 0x20;
  Spit(path, bytes);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(),
              ElementsAre(f.entry.name + ": uid " + std::to_string(r.uid) +
                          ": SHA1 mismatch (index says " + ToHex(r.guid) + ", file is " +
                          ToHex(Sha1Of(std::span<const std::uint8_t>(bytes))) + ")"));
}

TEST_P(VerifyStore, IndexRecordRemovedFromAConsistentIndex) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 2);
  // Rewrite the index without one live record, every count and CRC made
  // consistent again: only the orphaned message file betrays it.
  cyrus::IndexFile ix = f.index;
  auto victim = std::find_if(ix.records.begin(), ix.records.end(), [&](const auto& r) {
    return r.uid == f.live()[0]->uid;
  });
  std::uint32_t uid = victim->uid;
  ix.header.quota_mailbox_used -= victim->size;
  ix.records.erase(victim);
  auto hdr = cyrus::ReadHeaderFile(f.dir + "/cyrus.header");
  ASSERT_TRUE(hdr.ok());
  cyrus::FinalizeIndexHeader(ix.header, ix.records, hdr->user_flags);
  auto bytes = cyrus::SerializeIndex(ix.header, ix.records);
  Spit(f.dir + "/cyrus.index", bytes);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(), ElementsAre(f.entry.name + ": uid " + std::to_string(uid) +
                                       ": stray message file " + std::to_string(uid) +
                                       ". without an index record (Cyrus would re-append it)"));
}

TEST_P(VerifyStore, BadRecordCrc) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 2);
  auto bytes = Slurp(f.dir + "/cyrus.index");
  std::uint32_t start = GetBE32(bytes, 12), size = GetBE32(bytes, 16);
  // Record 1: flip a bit of its CRC.
  std::size_t crc_at = start + size + size - 4;
  std::uint32_t uid = GetBE32(bytes, start + size);
  bytes[crc_at] ^= 0x01;
  Spit(f.dir + "/cyrus.index", bytes);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  AllAbout(out, f.entry.name);
  std::string want_prefix = f.entry.name + ": uid " + std::to_string(uid) + ": cyrus.index ";
  ASSERT_FALSE(out.lines().empty());
  EXPECT_EQ(out.lines()[0].rfind(want_prefix, 0), 0u) << out.lines()[0];
  EXPECT_NE(out.lines()[0].find("record CRC mismatch"), std::string::npos) << out.lines()[0];
}

TEST_P(VerifyStore, StrayMessageFile) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  std::uint32_t uid = f.index.header.last_uid + 100;
  std::string src = f.dir + "/" + std::to_string(f.live()[0]->uid) + ".";
  Spit(f.dir + "/" + std::to_string(uid) + ".", Slurp(src));
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(), ElementsAre(f.entry.name + ": uid " + std::to_string(uid) +
                                       ": stray message file " + std::to_string(uid) +
                                       ". without an index record (Cyrus would re-append it)"));
}

TEST_P(VerifyStore, MissingMessageFile) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 2);
  std::uint32_t uid = f.live().back()->uid;
  ASSERT_EQ(::unlink((f.dir + "/" + std::to_string(uid) + ".").c_str()), 0);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(), ElementsAre(f.entry.name + ": uid " + std::to_string(uid) +
                                       ": message file " + std::to_string(uid) + ". missing"));
}

TEST_P(VerifyStore, WrongUidvalidityInDb) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  // Real Cyrus rewrites the db: dump, change one mailbox, load back (-u
  // writes both its N and I records).
  RunResult dump = RunCyrus(s, "ctl_mboxlist", "-d");
  ASSERT_EQ(dump.rc, 0);
  auto j = nlohmann::json::parse(dump.out);
  std::uint32_t uv = f.index.header.uidvalidity;
  j[f.entry.name]["uidvalidity"] = std::to_string(uv + 7);
  nlohmann::json one;
  one[f.entry.name] = j[f.entry.name];
  std::string dumpfile = s.root + "/one.json";
  std::string text = one.dump();
  Spit(dumpfile, std::vector<std::uint8_t>(text.begin(), text.end()));
  ASSERT_EQ(RunCyrus(s, "ctl_mboxlist", "-u < " + dumpfile).rc, 0);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(), ElementsAre(f.entry.name + ": uidvalidity mismatch (mailboxes.db says " +
                                       std::to_string(uv + 7) + ", cyrus.index says " +
                                       std::to_string(uv) + ")"));
}

TEST_P(VerifyStore, MissingIRecord) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  RunResult del = RunCyrus(s, "cyr_dbtool", s.db() + " twoskip delete I" + f.entry.uniqueid);
  ASSERT_EQ(del.rc, 0) << del.out;
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(), ElementsAre(f.entry.name + ": mailboxes.db has no I record for uniqueid " +
                                       f.entry.uniqueid));
}

TEST_P(VerifyStore, IRecordDisagreesWithN) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  // Rewrite the I record (with Cyrus's own tool) with another uidvalidity.
  RunResult show = RunCyrus(s, "cyr_dbtool", s.db() + " twoskip show");
  ASSERT_EQ(show.rc, 0);
  std::string key = "I" + f.entry.uniqueid + "\t", value;
  for (const auto& l : show.lines())
    if (l.rfind(key, 0) == 0) value = l.substr(key.size());
  std::string uv = " V " + std::to_string(f.entry.uidvalidity) + " ";
  auto at = value.find(uv);
  ASSERT_NE(at, std::string::npos) << value;
  value.replace(at, uv.size(), " V " + std::to_string(f.entry.uidvalidity + 1) + " ");
  ASSERT_EQ(value.find('\''), std::string::npos);
  RunResult set = RunCyrus(s, "cyr_dbtool", s.db() + " twoskip set I" + f.entry.uniqueid +
                                                " '" + value + "'");
  ASSERT_EQ(set.rc, 0);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(), ElementsAre(f.entry.name + ": mailboxes.db I record uidvalidity " +
                                       std::to_string(f.entry.uidvalidity + 1) +
                                       " differs from N record's " +
                                       std::to_string(f.entry.uidvalidity)));
}

TEST_P(VerifyStore, WrongSyncCrc) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  auto bytes = Slurp(f.dir + "/cyrus.index");
  std::uint32_t good = GetBE32(bytes, 100);
  PutBE32(bytes, 100, good ^ 0x00010000u);
  FixIndexHeaderCrc(bytes);
  Spit(f.dir + "/cyrus.index", bytes);
  char want[128];
  std::snprintf(want, sizeof want, "(index says %08x, records give %08x)", good ^ 0x00010000u, good);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(),
              ElementsAre(f.entry.name + ": cyrus.index sync_crc mismatch " + want));
}

TEST_P(VerifyStore, RealMessageAnnotationsCountInSyncCrcAnnot) {
  StoreDirs s = Fresh();
  // Cyrus itself sets a private (owner, "[.OwNeR.]") and a shared annotation.
  RunResult a = mr::testing::Run(
      "python3 " + std::string(MR_SOURCE_DIR) + "/tests/reconcile/annotate_store.py --spool " +
      s.spool() + " --conf " + s.conf() + " bob 2>&1");
  ASSERT_EQ(a.rc, 0) << a.out;
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 0) << out.out;
  // And a wrong stored sync_crc_annot is named.
  FolderAt f = PickFolder(s, 2, "bob");
  ASSERT_EQ(f.entry.name, "user.bob");
  auto bytes = Slurp(f.dir + "/cyrus.index");
  std::uint32_t good = GetBE32(bytes, 120);
  PutBE32(bytes, 120, good ^ 0x8000u);
  FixIndexHeaderCrc(bytes);
  Spit(f.dir + "/cyrus.index", bytes);
  char want[128];
  std::snprintf(want, sizeof want, "(index says %08x, records give %08x)", good ^ 0x8000u, good);
  out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  EXPECT_THAT(out.lines(),
              ElementsAre(f.entry.name + ": cyrus.index sync_crc_annot mismatch " + want));
}

TEST_P(VerifyStore, BadCacheRecordCrc) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  const cyrus::IndexRecord& r = *f.live()[0];
  ASSERT_NE(r.cache_offset, 0u);
  auto cache = Slurp(f.dir + "/cyrus.cache");
  // Inside the first item's data (after its 4-byte length).
  cache.at(r.cache_offset + 6) ^= 0x40;
  Spit(f.dir + "/cyrus.cache", cache);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  AllAbout(out, f.entry.name);
  ASSERT_FALSE(out.lines().empty());
  EXPECT_EQ(out.lines()[0].rfind(f.entry.name + ": uid " + std::to_string(r.uid) +
                                     ": cyrus.cache record CRC mismatch",
                                 0),
            0u)
      << out.out;
}

TEST_P(VerifyStore, MailboxDirectoryMissingAndOrphaned) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  // (In the legacy layout a parent directory holds its children's: they move
  // along and are reported too, hence Contains rather than ElementsAre.)
  std::string moved = f.dir + ".moved";
  ASSERT_EQ(::rename(f.dir.c_str(), moved.c_str()), 0);
  RunResult out = Verify(s);
  EXPECT_EQ(out.rc, 1);
  std::string rel = f.dir.substr(s.spool().size() + 1);
  EXPECT_THAT(out.lines(), Contains(f.entry.name + ": mailbox directory missing (" + rel + ")"));
  EXPECT_THAT(out.lines(), Contains(f.entry.name + ": mailbox directory " + rel +
                                    ".moved holds cyrus.header but mailboxes.db does not list it"));
}

TEST_P(VerifyStore, OrphanDirectoryFoundWhenVerifyingOneUser) {
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  // A copy of a real mailbox directory at a place the db does not list.
  std::string rel = GetParam() == "uuid" ? std::string("uuid/z/z/zzzzorphanzzzzzzzzzzzzz")
                                         : f.dir.substr(s.spool().size() + 1) + "/Orphaned";
  ASSERT_EQ(mr::testing::Run("mkdir -p '" + s.spool() + "/" + rel + "' && cp -a '" + f.dir +
                "'/cyrus.* '" + s.spool() + "/" + rel + "/'").rc, 0);
  verify::VerifyOptions o;
  o.spool = s.spool();
  o.db = s.db();
  auto v = verify::VerifyUser(o, UserOf(f.entry.name));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_THAT(v->problems, ElementsAre(f.entry.name + ": mailbox directory " + rel +
                                       " holds cyrus.header but mailboxes.db does not list it"));
  // Another user's verdict does not carry it.
  auto other = verify::VerifyUser(o, UserOf(f.entry.name) == "alice" ? "bob" : "alice");
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(other->problems, IsEmpty());
}

TEST_P(VerifyStore, UuidOrphansLookedForOnlyWhereTold) {
  if (GetParam() != "uuid") GTEST_SKIP() << "uuid_dirs is about the uuid tree";
  StoreDirs s = Fresh();
  FolderAt f = PickFolder(s, 1);
  std::string rel = "uuid/z/z/zzzzorphanzzzzzzzzzzzzz";
  ASSERT_EQ(mr::testing::Run("mkdir -p '" + s.spool() + "/" + rel + "' && cp -a '" + f.dir +
                "'/cyrus.* '" + s.spool() + "/" + rel + "/'").rc, 0);
  verify::VerifyOptions o;
  o.spool = s.spool();
  o.db = s.db();
  o.uuid_dirs = std::vector<std::string>{rel, "uuid/n/o/nonexistent"};
  auto v = verify::VerifyUser(o, UserOf(f.entry.name));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_THAT(v->problems, ElementsAre(f.entry.name + ": mailbox directory " + rel +
                                       " holds cyrus.header but mailboxes.db does not list it"));
  o.uuid_dirs = std::vector<std::string>{};  // told to look nowhere: the user's own folders still checked
  auto none = verify::VerifyUser(o, UserOf(f.entry.name));
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(none->problems, IsEmpty());
  EXPECT_GT(none->folders, 0u);
}

TEST_P(VerifyStore, SameFindingsForAnyJobs) {
  StoreDirs s = Fresh();
  // Damage two users so that parallel order could show.
  FolderAt a = PickFolder(s, 2, "alice");
  FolderAt b = PickFolder(s, 2, "bob");
  ASSERT_EQ(::unlink((a.dir + "/" + std::to_string(a.live()[0]->uid) + ".").c_str()), 0);
  auto bytes = Slurp(b.dir + "/" + std::to_string(b.live()[1]->uid) + ".");
  bytes[0] ^= 1;
  Spit(b.dir + "/" + std::to_string(b.live()[1]->uid) + ".", bytes);
  verify::VerifyOptions o;
  o.spool = s.spool();
  o.db = s.db();
  o.jobs = 1;
  auto one = verify::VerifyAll(o);
  o.jobs = 2;
  auto two = verify::VerifyAll(o);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(verify::ReportJson(o, *one), verify::ReportJson(o, *two));
  EXPECT_EQ(one->totals.problems, 2u);
  // And the JSON report names the users.
  RunResult r = Verify(s, "--jobs 2 --report -");
  EXPECT_EQ(r.rc, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["command"], "verify");
  EXPECT_EQ(j["totals"]["problems"], 2);
  int attention = 0;
  for (const auto& u : j["users"]) {
    if (u["status"] == "attention") {
      ++attention;
      EXPECT_TRUE(u["user"] == "alice" || u["user"] == "bob") << u.dump();
      EXPECT_EQ(u["problems"].size(), 1u);
    } else {
      EXPECT_EQ(u["status"], "ok");
    }
  }
  EXPECT_EQ(attention, 2);
}

TEST_P(VerifyStore, UsersFileLimitsTheCheck) {
  StoreDirs s = Fresh();
  FolderAt b = PickFolder(s, 1, "bob");
  ASSERT_EQ(::unlink((b.dir + "/" + std::to_string(b.live()[0]->uid) + ".").c_str()), 0);
  std::string users = s.root + "/users.txt";
  std::string text = "alice\n";
  Spit(users, std::vector<std::uint8_t>(text.begin(), text.end()));
  EXPECT_EQ(Verify(s, "--users " + users).rc, 0);
  text = "alice\nbob\n";
  Spit(users, std::vector<std::uint8_t>(text.begin(), text.end()));
  EXPECT_EQ(Verify(s, "--users " + users).rc, 1);
}

TEST_P(VerifyStore, BadUsageExitsTwo) {
  StoreDirs s = PristineStore(GetParam());
  EXPECT_EQ(RunCli("-q verify --spool " + s.spool() + " 2>/dev/null").rc, 2);
  EXPECT_EQ(RunCli("-q verify --spool " + s.spool() + " --db /nonexistent/mailboxes.db 2>/dev/null").rc, 2);
  EXPECT_EQ(RunCli("-q verify --spool /nonexistent --db " + s.db() + " 2>/dev/null").rc, 2);
}

INSTANTIATE_TEST_SUITE_P(Layouts, VerifyStore, ::testing::Values("uuid", "legacy"));

}  // namespace
}  // namespace mr::testing
