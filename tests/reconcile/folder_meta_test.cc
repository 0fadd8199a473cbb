// Folder-level metadata and quota roots: the annotations.db and quota record
// formats, the output annotations.db accumulated by WriteOutputDb like the
// mailboxes.db, and the planner's quota_annot_used.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/fsutil.h"
#include "plan_fixtures.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/cyrus/twoskip.h"
#include "reconcile/planner.h"
#include "reconcile/quota.h"
#include "reconcile/quota_roots.h"
#include "reconcile/reconcile.h"

namespace mr::reconcile {
namespace {

// A stored value as 64-bit Cyrus 3.6 writes it: length, value, NUL,
// "text/plain" NUL, 8 bytes, modseq (8), flags (1).
std::string Data(const std::string& value, bool deleted = false) {
  std::string d;
  const auto n = static_cast<std::uint32_t>(value.size());
  d += static_cast<char>(n >> 24);
  d += static_cast<char>(n >> 16);
  d += static_cast<char>(n >> 8);
  d += static_cast<char>(n);
  d += std::string(4, '\0');
  d += value;
  d += '\0';
  d += "text/plain";
  d += '\0';
  d += std::string(16, '\0');
  d += static_cast<char>(deleted ? 1 : 0);
  return d;
}

cyrus::AnnotationRecord A(const std::string& entry, const std::string& userid, const std::string& value,
                          bool deleted = false) {
  return {entry, userid, Data(value, deleted)};
}

std::string TmpDir() {
  char tmpl[] = "/tmp/mr-foldermeta-test-XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl), nullptr);
  return tmpl;
}

TEST(AnnotationsDb, KeysByMailboxEntryUseridAndSizes) {
  const auto su = A("/specialuse", "[.OwNeR.]", "\\Sent");
  EXPECT_EQ(cyrus::AnnotationKey("qpx7ajv99nd9ozqvfrcleo8w", su),
            std::string("qpx7ajv99nd9ozqvfrcleo8w\0/specialuse\0[.OwNeR.]\0", 47));
  EXPECT_EQ(cyrus::AnnotationQuotaSize(su), 5u);
  EXPECT_EQ(cyrus::AnnotationQuotaSize(A("/comment", "", "gone", true)), 0u);  // tombstone
  EXPECT_EQ(cyrus::AnnotationQuotaSize({"/comment", "", "\x01\x02"}), 0u);    // malformed
  std::string dir = TmpDir();
  cyrus::KvPairs kv = {{cyrus::AnnotationKey("", A("/motd", "", "hi")), Data("hi")},
                       {cyrus::AnnotationKey("id1", su), su.data},
                       {cyrus::AnnotationKey("id1", A("/comment", "", "x")), Data("x")},
                       {std::string("bad\0key", 7), "v"}};
  auto bytes = cyrus::WriteTwoskip(kv);
  ASSERT_TRUE(WriteFileAtomic(dir + "/annotations.db", bytes, false).ok());
  auto db = cyrus::ReadAnnotationsDb(dir + "/annotations.db");
  ASSERT_TRUE(db.ok());
  ASSERT_EQ(db->by_mailbox.size(), 2u);
  EXPECT_EQ(db->by_mailbox.at("").size(), 1u);  // server scope
  ASSERT_EQ(db->by_mailbox.at("id1").size(), 2u);
  EXPECT_EQ(db->by_mailbox.at("id1")[1], su);
  EXPECT_EQ(db->problems.size(), 1u);  // the malformed key
  EXPECT_EQ(cyrus::ReadAnnotationsDb(dir + "/none.db").error().code, Code::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(Quota, RecordRoundTripsAndUsageIsReplaced) {
  const std::string text = "%(S (5285984 800000) M (72) AS (95) NF (15) MODSEQ 109)\n";
  auto q = ParseQuotaRecord(text);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->used[kQuotaStorage], 5285984u);
  EXPECT_EQ(q->limit[kQuotaStorage], 800000);
  EXPECT_FALSE(q->limit[kQuotaMessage]);
  EXPECT_EQ(FormatQuotaRecord(*q), text);
  SetUsage(*q, {10, 2, 3, 4});
  EXPECT_EQ(FormatQuotaRecord(*q), "%(S (10 800000) M (2) AS (3) NF (4) MODSEQ 109)\n");
  auto old = ParseQuotaRecord("1024 500\n");  // Cyrus before 2.5
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->used[kQuotaStorage], 1024u);
  EXPECT_EQ(old->limit[kQuotaStorage], 500);
  EXPECT_FALSE(ParseQuotaRecord("%(S (x 1))").ok());
  EXPECT_FALSE(ParseQuotaRecord("").ok());
}

TEST(Quota, PathsFollowHashAndDomain) {
  EXPECT_EQ(QuotaRelPath("user.bob", false), "quota/b/user.bob");
  EXPECT_EQ(QuotaRelPath("user.fred^smith", false), "quota/f/user.fred^smith");
  EXPECT_EQ(QuotaRelPath("shared", false), "quota/s/shared");
  EXPECT_EQ(QuotaRelPath("user.1x", false), "quota/q/user.1x");
  EXPECT_EQ(QuotaRelPath("example.com!user.bob", false), "domain/e/example.com/quota/b/user.bob");
  EXPECT_EQ(QuotaRelPath("example.com!", false), "domain/e/example.com/quota/root");
  EXPECT_EQ(QuotaRelPath("", false), "");
  EXPECT_EQ(QuotaRelPath("user/../x", false), "");
  EXPECT_EQ(QuotaRelPath("..", false), "");
}

TEST(Quota, CarriedFromSalvagedElseBackupWithOutputUsage) {
  std::string dir = TmpDir();
  auto put = [&](const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
  };
  put(dir + "/s/quota/b/user.bob", "%(S (1 100) M (1) AS (0) NF (1) MODSEQ 9)\n");
  put(dir + "/b/quota/b/user.bob", "%(S (1 50) M (1) AS (0) NF (1) MODSEQ 3)\n");
  put(dir + "/b/quota/b/user.bob.Big", "%(S (7 70) M (1) AS (0) NF (1) MODSEQ 2)\n");
  put(dir + "/b/domain/e/example.com/quota/root", "%(S (99 1000) M (9) AS (0) NF (9) MODSEQ 1)\n");
  QuotaRootsRequest r;
  r.unit = "bob";
  r.s_conf = dir + "/s";
  r.b_conf = dir + "/b";
  r.out_conf = dir + "/out";
  r.usage["user.bob"] = {2048, 3, 5, 2};
  r.usage["user.bob.Big"] = {10, 1, 0, 1};
  r.usage["user.bob.Nowhere"] = {1, 1, 0, 1};
  r.usage["example.com!"] = {1, 1, 1, 1};
  auto w = CarryQuotaRoots(r);
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(*w, (std::vector<std::string>{"example.com!", "user.bob", "user.bob.Big"}));
  auto read = [&](const std::string& rel) {
    auto b = ReadFile(dir + "/out/" + rel);
    return b.ok() ? std::string(b->begin(), b->end()) : std::string("<missing>");
  };
  EXPECT_EQ(read("quota/b/user.bob"), "%(S (2048 100) M (3) AS (5) NF (2) MODSEQ 9)\n");       // S's limits
  EXPECT_EQ(read("quota/b/user.bob.Big"), "%(S (10 70) M (1) AS (0) NF (1) MODSEQ 2)\n");     // only in B
  EXPECT_EQ(read("domain/e/example.com/quota/root"), "%(S (99 1000) M (9) AS (0) NF (9) MODSEQ 1)\n");  // spans units
  r.s_readable = false;  // bob is not on the salvaged side: B's record
  ASSERT_TRUE(CarryQuotaRoots(r).ok());
  EXPECT_EQ(read("quota/b/user.bob"), "%(S (2048 50) M (3) AS (5) NF (2) MODSEQ 3)\n");
  std::filesystem::remove_all(dir);
}

TEST(OutputAnnotations, AccumulateAcrossUsersAndReplaceAUsersOwn) {
  std::string root = TmpDir();
  ReconcileOptions o;
  o.out_db = root + "/conf/mailboxes.db";
  o.db_format = cyrus::DbFormat::kTwoskip;
  o.fsync = false;
  auto keys = [&] {
    std::vector<std::string> v;
    auto b = ReadFile(root + "/conf/annotations.db");
    if (!b.ok()) return v;
    auto kv = cyrus::ReadTwoskip(*b, nullptr);
    if (kv.ok())
      for (auto& [k, d] : *kv) {
        std::string s = k;
        std::replace(s.begin(), s.end(), '\0', '|');
        v.push_back(s);
      }
    return v;
  };
  UserOutcome alice, bob;
  alice.user = "alice";
  alice.entries = {testing::DbEntry("user.alice", "a1", 1, "x"), testing::DbEntry("user.alice.Sent", "a2", 1, "x")};
  alice.annotations["a2"] = {A("/specialuse", "[.OwNeR.]", "\\Sent")};
  bob.user = "bob";
  bob.entries = {testing::DbEntry("user.bob", "b1", 1, "x")};
  bob.annotations["b1"] = {A("/comment", "", "hello"), A("/comment", "[.OwNeR.]", "mine")};
  ASSERT_TRUE(WriteOutputDb(o, {alice}).ok());
  ASSERT_TRUE(WriteOutputDb(o, {bob}).ok());  // a second batch
  EXPECT_EQ(keys(), (std::vector<std::string>{"a2|/specialuse|[.OwNeR.]|", "b1|/comment||", "b1|/comment|[.OwNeR.]|"}));
  // alice again: her Sent was re-created under another uniqueid with no annotation.
  alice.entries = {testing::DbEntry("user.alice", "a1", 1, "x"), testing::DbEntry("user.alice.Sent", "a3", 1, "x")};
  alice.annotations.clear();
  OutputDbWriter w;
  ASSERT_TRUE(w.Write(o, {alice}).ok());
  EXPECT_EQ(keys(), (std::vector<std::string>{"b1|/comment||", "b1|/comment|[.OwNeR.]|"}));
  std::filesystem::remove_all(root);
}

// The folder's quota_annot_used counts its mailbox annotations (from the side
// that gives the folder) and the message annotations of live records.
TEST(PlannerAnnotations, QuotaAnnotUsedCountsWhatIsCarried) {
  using testing::Msg;
  testing::InvOpts o;
  o.name = "user.bob.Sent";
  auto s = testing::MakeInv(Side::kSalvaged, {Msg{1, 1}, Msg{2, 2}}, o);
  auto b = testing::MakeInv(Side::kBackup, {Msg{1, 1}}, o);
  s.index->quota_annot_used = 999;  // whatever the old header said
  s.annotations_present = true;
  s.annotations = {{1, "/comment", "bob", "abc"}, {9, "/comment", "bob", "no-such-uid"}};
  s.mailbox_annotations = std::vector<cyrus::AnnotationRecord>{A("/specialuse", "[.OwNeR.]", "\\Sent")};
  b.mailbox_annotations = std::vector<cyrus::AnnotationRecord>{A("/comment", "", "old backup note")};
  FolderPairing p = testing::Pair(&s, o, &b, o);
  FolderPlan plan = PlanFolder(p, &s, &b);
  EXPECT_EQ(plan.mailbox_annotations_from, Side::kSalvaged);
  EXPECT_EQ(plan.mailbox_annotations.size(), 1u);
  EXPECT_EQ(plan.index.quota_annot_used, 5u + 3u);
  // S's annotations.db unreadable: the backup's, for the same folder.
  s.mailbox_annotations.reset();
  plan = PlanFolder(p, &s, &b);
  EXPECT_EQ(plan.mailbox_annotations_from, Side::kBackup);
  EXPECT_EQ(plan.index.quota_annot_used, 15u + 3u);
  // A re-created folder (other uniqueid): the backup's belong to another folder.
  testing::InvOpts other = o;
  other.uniqueid = "uid0000000000000000000002";
  auto b2 = testing::MakeInv(Side::kBackup, {Msg{1, 1}}, other);
  b2.mailbox_annotations = b.mailbox_annotations;
  plan = PlanFolder(testing::Pair(&s, o, &b2, other), &s, &b2);
  EXPECT_FALSE(plan.mailbox_annotations_from);
  EXPECT_EQ(plan.index.quota_annot_used, 3u);
}

}  // namespace
}  // namespace mr::reconcile
