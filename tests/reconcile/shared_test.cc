// Shared (non-user) mailboxes as the reconcile unit kSharedUnit: the planner
// judges them by the user-folder rules (both sides, only S, only B with and
// without evidence), the output db replaces the unit's entries as a whole,
// and salvage.json's rest_done is the unit's "salvage finished it".
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/cyrus_layout.h"
#include "plan_fixtures.h"
#include "reconcile/reconcile.h"
#include "reconcile/salvage_manifest.h"

namespace mr::reconcile {
namespace {

using testing::InvOpts;
using testing::MakeInv;
using testing::Pair;

const std::string kUnit(kSharedUnit);

FolderRef Ref(const std::string& name, const std::string& id, bool legacy = false) {
  FolderRef r;
  r.name = name;
  r.uniqueid = id;
  r.uidvalidity = 7;
  r.legacy = legacy;
  r.rel_dir = MailboxRelDir(name, id, legacy ? CyrusLayout::kLegacy : CyrusLayout::kUuid, true);
  r.dir_exists = true;
  r.header_found = true;
  return r;
}


TEST(SharedPlan, FoldersPairAndAreJudgedLikeAUsersFolders) {
  UserSide s{true, true, {Ref("shared", "sh1"), Ref("shared.announcements", "an1"), Ref("shared.events", "ev1")}, {}};
  UserSide b{true, true, {Ref("shared", "sh1"), Ref("shared.announcements", "an1"), Ref("shared.retired", "re1")}, {}};
  UserPlan up = PlanUser(kUnit, s, b);
  EXPECT_EQ(up.reason, Reason::kUserMerged);
  ASSERT_EQ(up.folders.size(), 4u);
  // In both: one folder.
  EXPECT_EQ(testing::FindPairing(up, "shared.announcements")->reason, Reason::kFolderMerged);
  EXPECT_TRUE(testing::FindPairing(up, "shared.announcements")->same_folder);
  // Only in S: new since the backup, taken.
  EXPECT_EQ(testing::FindPairing(up, "shared.events")->reason, Reason::kFolderNewSinceBackup);
  EXPECT_TRUE(testing::FindPairing(up, "shared.events")->emit);
  // Only in B with evidence (S's db and tree readable): deleted since.
  EXPECT_EQ(testing::FindPairing(up, "shared.retired")->reason, Reason::kFolderDeletedSinceBackup);
  EXPECT_FALSE(testing::FindPairing(up, "shared.retired")->emit);
  // Only in B without evidence (e.g. salvage never finished the rest group): kept.
  s.tree_readable = false;
  up = PlanUser(kUnit, s, b);
  EXPECT_EQ(testing::FindPairing(up, "shared.retired")->reason, Reason::kFolderKeptDamagedTree);
  EXPECT_TRUE(testing::FindPairing(up, "shared.retired")->emit);
}

TEST(SharedPlan, OnlyInBackupIsRestoredAndReported) {
  UserSide s;
  UserSide b{true, true, {Ref("Public", "pu1", true)}, {}};
  UserPlan up = PlanUser(kUnit, s, b);
  EXPECT_EQ(up.reason, Reason::kUserBackupOnly);
  ASSERT_EQ(up.folders.size(), 1u);
  EXPECT_TRUE(up.folders[0].emit);
}

TEST(SharedPlan, FolderKeepsItsAclAndLegacyPlace) {
  InvOpts so;
  so.name = "shared.announcements";
  so.uniqueid = "an1";
  InvOpts bo = so;
  auto si = MakeInv(Side::kSalvaged, {{1, 1}, {3, 3}}, so);
  auto bi = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, bo);
  si.rel_dir = bi.rel_dir = "a/shared/announcements";
  FolderPairing p = Pair(&si, so, &bi, bo);
  p.s->legacy = p.b->legacy = true;
  cyrus::MboxEntry db;
  db.name = so.name;
  db.uniqueid = so.uniqueid;
  db.mbtype = "el";
  db.acl = {{"anyone", "lrs"}, {"alice", "lrswipkxtecdan"}};
  p.s->db = p.b->db = db;
  si.header->acl = bi.header->acl = db.acl;
  FolderPlan plan = PlanFolder(p, &si, &bi);
  EXPECT_TRUE(plan.emit);
  EXPECT_EQ(plan.rel_dir, "a/shared/announcements");
  EXPECT_EQ(plan.db.mbtype, "el");
  EXPECT_EQ(plan.db.acl, db.acl);
  EXPECT_EQ(plan.header.acl, db.acl);
  // uid 2 only in B, below S's last_uid, S readable: deleted since the backup.
  EXPECT_EQ(plan.counts.kept, 2u);
  EXPECT_EQ(plan.counts.dropped_deleted, 1u);
}

cyrus::MboxEntry E(const std::string& name, const std::string& id, std::uint32_t uv) {
  return testing::DbEntry(name, id, uv);
}

TEST(SharedOutputDb, TheUnitReplacesEveryNonUserEntryAndNothingElse) {
  char tmpl[] = "/tmp/mr-shared-db-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  ReconcileOptions o;
  o.out_db = root + "/mailboxes.db";
  o.db_format = cyrus::DbFormat::kTwoskip;
  ASSERT_TRUE(cyrus::WriteMailboxesDb(o.out_db,
                                      {E("user.bob", "b1", 1), E("shared", "s0", 1), E("shared.retired", "s1", 1),
                                       E("Public", "p1", 1), E("DELETED.shared.old.5F1A2B3C", "d1", 1)},
                                      cyrus::DbFormat::kTwoskip)
                  .ok());
  UserOutcome shared;
  shared.user = kUnit;
  shared.entries = {E("shared", "s0", 2), E("Public", "p1", 2), E("shared.events", "s2", 2)};
  ASSERT_TRUE(WriteOutputDb(o, {shared}).ok());
  auto db = cyrus::ReadMailboxesDb(o.out_db);
  ASSERT_TRUE(db.ok());
  std::vector<std::string> names;
  for (const auto& e : *db) names.push_back(e.name + ":" + std::to_string(e.uidvalidity));
  std::sort(names.begin(), names.end());
  // shared.retired (not in this run's unit) is gone; bob and the pending
  // delayed delete (no unit) are left alone.
  EXPECT_EQ(names, (std::vector<std::string>{"DELETED.shared.old.5F1A2B3C:1", "Public:2", "shared.events:2",
                                             "shared:2", "user.bob:1"}));
  std::filesystem::remove_all(root);
}

TEST(SharedManifest, RestGroupIsTheUnitsDoneFlag) {
  auto m = ParseSalvageManifest(R"({"users":[{"user":"bob","done":true}],"rest_done":false})", "salvage.json");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->UserDone("bob"));
  EXPECT_FALSE(m->UserDone(kUnit));
  m = ParseSalvageManifest(R"({"users":[],"rest_done":true})", "salvage.json");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->UserDone(kUnit));
  // An older salvage.json without the field: as before, done.
  m = ParseSalvageManifest(R"({"users":[]})", "salvage.json");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->UserDone(kUnit));
}

}  // namespace
}  // namespace mr::reconcile
