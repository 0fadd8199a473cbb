// Planner unit tests: one test per row of SPEC.md's reconcile-rules table,
// then generated scenarios checking the planner's properties (deterministic,
// no message dropped without evidence, idempotent over its own output).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "plan_fixtures.h"

namespace mr::reconcile {
namespace {

using testing::G;
using testing::InvOpts;
using testing::MakeInv;
using testing::Msg;
using testing::Pair;
using testing::PlanBytes;

const MessageAction* At(const FolderPlan& p, std::uint32_t uid) {
  for (const auto& a : p.messages)
    if (a.record.uid == uid) return &a;
  return nullptr;
}

FolderPlan Plan(const FolderInventory& s, const InvOpts& so, const FolderInventory& b, const InvOpts& bo) {
  return PlanFolder(Pair(&s, so, &b, bo), &s, &b);
}

TEST(Planner, SameUidSameGuidKeptOnceWithSalvagedFlags) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1, cyrus::kFlagSeen, 5}}, o);
  auto b = MakeInv(Side::kBackup, {{1, 1, 0, 3}}, o);
  auto p = Plan(s, o, b, o);
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0].record.system_flags, cyrus::kFlagSeen);
  EXPECT_EQ(p.messages[0].record.modseq, 5u);
  EXPECT_EQ(p.messages[0].file_side, Side::kBackup);  // unchanged message: link B's file
  EXPECT_EQ(p.messages[0].reason, Reason::kSameMessage);
  EXPECT_EQ(p.counts.kept, 1u);
  EXPECT_EQ(p.counts.from_salvage + p.counts.from_backup + p.counts.dropped_deleted, 0u);
}

TEST(Planner, SameMessageFlagsFromBackupWhenSalvagedRecordUnreadable) {
  InvOpts so;
  so.index_ok = false;  // no S record: S's file is matched to B's record by uid + GUID
  auto s = MakeInv(Side::kSalvaged, {{1, 1, cyrus::kFlagSeen, 5}}, so);
  InvOpts bo;
  auto b = MakeInv(Side::kBackup, {{1, 1, cyrus::kFlagFlagged, 3}}, bo);
  so.uidvalidity = bo.uidvalidity;
  auto p = Plan(s, so, b, bo);
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0].record.system_flags, cyrus::kFlagFlagged);
  EXPECT_EQ(p.messages[0].reason, Reason::kSameMessage);
}

TEST(Planner, UidOnlyInSalvagedIsTaken) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 2}}, o);
  auto b = MakeInv(Side::kBackup, {{1, 1}}, o);
  auto p = Plan(s, o, b, o);
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(At(p, 2)->file_side, Side::kSalvaged);
  EXPECT_EQ(At(p, 2)->reason, Reason::kNewSinceBackup);
  EXPECT_EQ(p.counts.from_salvage, 1u);
}

TEST(Planner, UidOnlyInBackupBelowLastUidIsDroppedAsDeleted) {
  InvOpts so;
  so.last_uid = 3;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {3, 3}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, InvOpts{});
  auto p = Plan(s, so, b, InvOpts{});
  EXPECT_EQ(At(p, 2), nullptr);
  EXPECT_EQ(p.counts.dropped_deleted, 1u);
  ASSERT_EQ(p.dropped.size(), 1u);
  EXPECT_EQ(p.dropped[0].reason, Reason::kDeletedSinceBackup);
}

TEST(Planner, UidExpungedInSalvagedIsDropped) {
  InvOpts o;
  Msg exp{2, 2};
  exp.expunged = true;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, exp}, o);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, o);
  auto p = Plan(s, o, b, o);
  EXPECT_EQ(At(p, 2), nullptr);
  EXPECT_EQ(p.counts.dropped_deleted, 1u);
  EXPECT_EQ(p.dropped[0].reason, Reason::kExpungedSinceBackup);
}

TEST(Planner, UidOnlyInBackupKeptWhenSalvagedIndexUnreadable) {
  InvOpts so;
  so.index_ok = false;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, InvOpts{});
  so.uidvalidity = 1000;
  auto p = Plan(s, so, b, InvOpts{});
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(At(p, 2)->reason, Reason::kBackupOnlyNoEvidence);
  EXPECT_EQ(p.counts.dropped_deleted, 0u);
}

TEST(Planner, UidOnlyInBackupKeptWhenFolderListingIncomplete) {
  InvOpts so;
  so.dir_complete = false;
  so.last_uid = 5;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, InvOpts{});
  auto p = Plan(s, so, b, InvOpts{});
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(p.counts.dropped_deleted, 0u);
}

TEST(Planner, UidOnlyInBackupKeptWhenABadRecordCouldHideIt) {
  InvOpts so;
  so.last_uid = 9;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {5, 5}}, so);
  s.problems.push_back({1, 0, "record CRC mismatch"});
  s.uncertain.push_back({1, 5});
  auto b = MakeInv(Side::kBackup, {{1, 1}, {3, 3}, {7, 7}}, InvOpts{});
  auto p = Plan(s, so, b, InvOpts{});
  EXPECT_NE(At(p, 3), nullptr);   // between the good records around the bad one
  EXPECT_EQ(At(p, 7), nullptr);   // outside: the readable index proves the deletion
  EXPECT_EQ(p.counts.dropped_deleted, 1u);
}

TEST(Planner, UidOnlyInBackupAboveSalvagedLastUidKept) {
  InvOpts so;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {4, 4}}, InvOpts{});
  auto p = Plan(s, so, b, InvOpts{});
  ASSERT_NE(At(p, 4), nullptr);
  EXPECT_EQ(At(p, 4)->reason, Reason::kBackupAboveLastUid);
}

TEST(Planner, SameUidDifferentGuidKeepsBothAndRenumbersBackupCopy) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 20, 0, 9}}, o);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2, 0, 4}, {3, 3}}, o);
  InvOpts so = o;
  so.last_uid = 3;
  s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 20, 0, 9}, {3, 3}}, so);
  auto p = Plan(s, so, b, o);
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(At(p, 2)->record.guid, G(20));
  ASSERT_EQ(p.renumbered.size(), 1u);
  EXPECT_EQ(p.renumbered[0].from, 2u);
  EXPECT_EQ(p.renumbered[0].to, 4u);  // above every uid used (and S.last_uid)
  ASSERT_NE(At(p, 4), nullptr);
  EXPECT_EQ(At(p, 4)->record.guid, G(2));
  EXPECT_GT(At(p, 4)->record.modseq, 9u);
  EXPECT_EQ(p.index.last_uid, 4u);
  EXPECT_GE(p.index.highestmodseq, At(p, 4)->record.modseq);
}

TEST(Planner, DamagedSalvagedFileReplacedByBackupCopy) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1, cyrus::kFlagSeen, 8}, {2, 2}}, o);
  s.files[0].damaged = true;
  s.files[0].damage = "damaged bytes at 0+4096";
  s.files[0].hashed = false;
  s.files.erase(s.files.begin() + 1);  // uid 2: file missing
  auto b = MakeInv(Side::kBackup, {{1, 1}, {7, 2}}, o);  // uid 2's GUID sits at uid 7 in B
  auto p = Plan(s, o, b, o);
  ASSERT_NE(At(p, 1), nullptr);
  EXPECT_EQ(At(p, 1)->file_side, Side::kBackup);
  EXPECT_EQ(At(p, 1)->record.system_flags, cyrus::kFlagSeen);  // flags still S's
  EXPECT_EQ(At(p, 1)->reason, Reason::kDamagedTakenFromBackup);
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(At(p, 2)->file_side, Side::kBackup);
  EXPECT_EQ(At(p, 2)->file_uid, 7u);
  EXPECT_EQ(At(p, 7), nullptr);  // not duplicated
  EXPECT_TRUE(p.unrecoverable.empty());
}

TEST(Planner, DamagedSalvagedFileWithoutBackupCopyIsUnrecoverable) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 2}}, o);
  s.files[1].sha1 = G(99);  // content does not match the record's GUID
  auto b = MakeInv(Side::kBackup, {{1, 1}}, o);
  auto p = Plan(s, o, b, o);
  EXPECT_EQ(At(p, 2), nullptr);
  ASSERT_EQ(p.unrecoverable.size(), 1u);
  EXPECT_EQ(p.unrecoverable[0].uid, 2u);
  EXPECT_EQ(p.unrecoverable[0].size, 102u);
  EXPECT_NE(p.unrecoverable[0].damage.find("SHA1"), std::string::npos);
}

TEST(Planner, SalvagedFileWithoutRecordKeptAtItsUid) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}}, o);
  FileInfo orphan;
  orphan.uid = 5;
  orphan.size = 321;
  orphan.mtime = 1700001234;
  orphan.sha1 = G(5);
  orphan.hashed = true;
  orphan.has_facts = true;
  orphan.header_size = 40;
  s.files.push_back(orphan);
  auto b = MakeInv(Side::kBackup, {{1, 1}}, o);
  auto p = Plan(s, o, b, o);
  ASSERT_NE(At(p, 5), nullptr);
  EXPECT_EQ(At(p, 5)->reason, Reason::kOrphanFileKept);
  EXPECT_EQ(At(p, 5)->record.internaldate, 1700001234);
  EXPECT_EQ(At(p, 5)->record.size, 321u);
  EXPECT_EQ(At(p, 5)->cache_from, CacheSource::kNone);
  EXPECT_EQ(p.index.last_uid, 5u);
  EXPECT_GT(At(p, 5)->record.modseq, 1u);
}

TEST(Planner, SalvagedFileWithoutRecordVersusOtherBackupMessageAtThatUid) {
  InvOpts so;
  so.index_ok = false;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 20}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, InvOpts{});
  so.uidvalidity = 1000;
  auto p = Plan(s, so, b, InvOpts{});
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(At(p, 2)->record.guid, G(20));  // S keeps the uid
  ASSERT_EQ(p.renumbered.size(), 1u);
  EXPECT_EQ(At(p, 3)->record.guid, G(2));  // B's copy above every uid
}

// The same, but the salvaged file has the backup record's size and date: it
// is that message with a block overwritten (salvage saw no unreadable block),
// contradicted by the backup's record. The backup's copy is served at the uid;
// the damaged bytes are not served, and no duplicate appears.
TEST(Planner, SalvagedFileContradictedByTheBackupRecordIsTakenFromBackup) {
  InvOpts so;
  so.index_ok = false;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 2}}, so);
  s.files[1].sha1 = G(77);  // same size and mtime as uid 2 in B, other bytes
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, InvOpts{});
  auto p = Plan(s, so, b, InvOpts{});
  ASSERT_NE(At(p, 2), nullptr);
  EXPECT_EQ(At(p, 2)->record.guid, G(2));
  EXPECT_EQ(At(p, 2)->file_side, Side::kBackup);
  EXPECT_EQ(At(p, 2)->reason, Reason::kDamagedTakenFromBackup);
  EXPECT_TRUE(p.renumbered.empty());
  EXPECT_EQ(p.messages.size(), 2u);
  EXPECT_TRUE(p.unrecoverable.empty());
}

TEST(Planner, UidvalidityChangedSalvagedIsTheFolderBackupReported) {
  InvOpts so;
  so.uidvalidity = 2000;
  so.uniqueid = "newid00000000000000000001";
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 30}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}, {3, 3}}, InvOpts{});
  auto p = Plan(s, so, b, InvOpts{});
  EXPECT_EQ(p.reason, Reason::kFolderRecreated);
  EXPECT_EQ(p.uidvalidity, 2000u);
  EXPECT_EQ(p.uniqueid, so.uniqueid);
  EXPECT_EQ(p.messages.size(), 2u);
  ASSERT_EQ(p.not_merged.size(), 2u);  // B's 2 and 3; B's 1 is in S by GUID
  EXPECT_EQ(p.not_merged[0].uid, 2u);
  EXPECT_EQ(p.not_merged[1].uid, 3u);
}

TEST(Planner, KeepsSalvagedIdentityElseBackups) {
  InvOpts so;
  so.uniqueid = "sid00000000000000000000001";
  auto s = MakeInv(Side::kSalvaged, {{1, 1}}, so);
  auto b = MakeInv(Side::kBackup, {{1, 1}}, InvOpts{});
  FolderPairing pr = Pair(&s, so, &b, InvOpts{});
  pr.same_folder = true;  // e.g. paired by name with an S uniqueid we trust
  auto p = PlanFolder(pr, &s, &b);
  EXPECT_EQ(p.uniqueid, so.uniqueid);

  InvOpts none;
  none.index_ok = false;
  none.header_ok = false;
  none.uniqueid = "";
  auto s2 = MakeInv(Side::kSalvaged, {{1, 1}}, InvOpts{.index_ok = false, .header_ok = false});
  FolderPairing p2 = Pair(&s2, none, &b, InvOpts{});
  p2.s->uniqueid.clear();
  p2.s->uidvalidity = 0;
  p2.same_folder = true;
  s2.header.reset();
  auto q = PlanFolder(p2, &s2, &b);
  EXPECT_EQ(q.uniqueid, InvOpts{}.uniqueid);
  EXPECT_EQ(q.uidvalidity, InvOpts{}.uidvalidity);
}

TEST(Planner, BackupUserFlagsMappedByName) {
  InvOpts so;
  so.user_flags = {"Junk", "$Label1"};
  InvOpts bo;
  bo.user_flags = {"$Label1", "Junk", "Work"};
  auto s = MakeInv(Side::kSalvaged, {{1, 1, 0, 1, false, 0b01}}, so);  // Junk
  so.index_ok = false;
  auto s_noidx = MakeInv(Side::kSalvaged, {{1, 1}, {2, 2}}, so);
  s_noidx.header->user_flags = {"Junk", "$Label1"};
  auto b = MakeInv(Side::kBackup, {{1, 1, 0, 1, false, 0b001}, {2, 2, 0, 1, false, 0b110}}, bo);
  so.uidvalidity = 1000;
  auto p = PlanFolder(Pair(&s_noidx, so, &b, bo), &s_noidx, &b);
  // Output table: S's, plus B's names S lacks.
  ASSERT_EQ(p.header.user_flags.size(), 3u);
  EXPECT_EQ(p.header.user_flags[2], "Work");
  EXPECT_EQ(At(p, 1)->record.user_flags[0], 0b010u);  // $Label1 is bit 1 in S's table
  EXPECT_EQ(At(p, 2)->record.user_flags[0], 0b101u);  // Junk (0) + Work (2)
}

TEST(Planner, CacheCarriedFromWhicheverSideIsValid) {
  InvOpts o;
  auto s = MakeInv(Side::kSalvaged, {{1, 1}, {2, 2}, {3, 3}}, o);
  auto b = MakeInv(Side::kBackup, {{1, 1}, {2, 2}}, o);
  s.records[1].cache_ok = false;
  s.records[2].cache_ok = false;
  auto p = Plan(s, o, b, o);
  EXPECT_EQ(At(p, 1)->cache_from, CacheSource::kSalvaged);
  EXPECT_EQ(At(p, 2)->cache_from, CacheSource::kBackup);
  EXPECT_EQ(At(p, 3)->cache_from, CacheSource::kNone);
}

// ---- user level -----------------------------------------------------------

FolderRef Ref(const std::string& name, const std::string& id, std::uint32_t uv = 1) {
  FolderRef r;
  r.name = name;
  r.uniqueid = id;
  r.uidvalidity = uv;
  r.rel_dir = "uuid/" + id.substr(0, 1) + "/" + id.substr(1, 1) + "/" + id;
  r.dir_exists = true;
  r.header_found = true;
  return r;
}


TEST(PlannerUser, FolderOnlyInSalvagedIsNew) {
  UserSide s{true, true, {Ref("user.bob", "aa1"), Ref("user.bob.New", "bb1")}, {}};
  UserSide b{true, true, {Ref("user.bob", "aa1")}, {}};
  auto up = PlanUser("bob", s, b);
  ASSERT_NE(testing::FindPairing(up, "user.bob.New"), nullptr);
  EXPECT_EQ(testing::FindPairing(up, "user.bob.New")->reason, Reason::kFolderNewSinceBackup);
  EXPECT_TRUE(testing::FindPairing(up, "user.bob.New")->emit);
}

TEST(PlannerUser, FolderOnlyInBackupDroppedWhenSalvagedTreeReadable) {
  UserSide s{true, true, {Ref("user.bob", "aa1")}, {}};
  UserSide b{true, true, {Ref("user.bob", "aa1"), Ref("user.bob.Old", "cc1")}, {}};
  auto up = PlanUser("bob", s, b);
  EXPECT_FALSE(testing::FindPairing(up, "user.bob.Old")->emit);
  EXPECT_EQ(testing::FindPairing(up, "user.bob.Old")->reason, Reason::kFolderDeletedSinceBackup);
  s.tree_readable = false;
  up = PlanUser("bob", s, b);
  EXPECT_TRUE(testing::FindPairing(up, "user.bob.Old")->emit);
  EXPECT_EQ(testing::FindPairing(up, "user.bob.Old")->reason, Reason::kFolderKeptDamagedTree);
  s.tombstones = {"user.bob.Old"};  // the db's tombstone is evidence even then
  up = PlanUser("bob", s, b);
  EXPECT_FALSE(testing::FindPairing(up, "user.bob.Old")->emit);
}

TEST(PlannerUser, RecreatedAndRenamedFolders) {
  UserSide s{true, true, {Ref("user.bob", "aa1"), Ref("user.bob.Sent", "dd2", 2), Ref("user.bob.Renamed", "ee1")}, {}};
  UserSide b{true, true, {Ref("user.bob", "aa1"), Ref("user.bob.Sent", "dd1", 1), Ref("user.bob.Work", "ee1")}, {}};
  auto up = PlanUser("bob", s, b);
  EXPECT_EQ(testing::FindPairing(up, "user.bob.Sent")->reason, Reason::kFolderRecreated);
  EXPECT_FALSE(testing::FindPairing(up, "user.bob.Sent")->same_folder);
  EXPECT_EQ(testing::FindPairing(up, "user.bob.Renamed")->reason, Reason::kFolderRenamed);
  EXPECT_EQ(testing::FindPairing(up, "user.bob.Renamed")->b->name, "user.bob.Work");
  EXPECT_EQ(up.folders.size(), 3u);
}

TEST(PlannerUser, UserOnlyInBackupRestoredAndReported) {
  UserSide s;
  UserSide b{true, true, {Ref("user.bob", "aa1"), Ref("user.bob.Sent", "dd1")}, {}};
  auto up = PlanUser("bob", s, b);
  EXPECT_EQ(up.reason, Reason::kUserBackupOnly);
  EXPECT_EQ(Info(up.reason).message, "backup only: changes since the backup are lost");
  for (const auto& f : up.folders) EXPECT_TRUE(f.emit);
  auto bi = MakeInv(Side::kBackup, {{1, 1}, {2, 2}});
  auto p = PlanFolder(up.folders[0], nullptr, &bi);
  EXPECT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.counts.from_backup, 2u);
}

TEST(PlannerUser, UserOnlyInSalvagedTaken) {
  UserSide s{true, true, {Ref("user.bob", "aa1")}, {}};
  UserSide b;
  auto up = PlanUser("bob", s, b);
  EXPECT_EQ(up.reason, Reason::kUserSalvageOnly);
  ASSERT_EQ(up.folders.size(), 1u);
  EXPECT_TRUE(up.folders[0].emit);
}

TEST(PlannerUser, IndependentOfInputOrder) {
  std::vector<FolderRef> sf, bf;
  for (int i = 0; i < 30; ++i) {
    std::string id = "f" + std::to_string(1000 + i);
    if (i % 3 != 0) sf.push_back(Ref("user.bob.F" + std::to_string(i), id));
    if (i % 4 != 0) bf.push_back(Ref("user.bob.F" + std::to_string(i), i % 5 ? id : id + "x"));
  }
  UserSide s{true, false, sf, {}};
  UserSide b{true, true, bf, {}};
  auto want = PlanUser("bob", s, b);
  std::mt19937 rng(7);
  for (int k = 0; k < 50; ++k) {
    std::shuffle(s.folders.begin(), s.folders.end(), rng);
    std::shuffle(b.folders.begin(), b.folders.end(), rng);
    auto got = PlanUser("bob", s, b);
    ASSERT_EQ(got.folders.size(), want.folders.size());
    for (std::size_t i = 0; i < got.folders.size(); ++i) {
      EXPECT_EQ(got.folders[i].reason, want.folders[i].reason);
      EXPECT_EQ(got.folders[i].emit, want.folders[i].emit);
      EXPECT_EQ(got.folders[i].s.has_value(), want.folders[i].s.has_value());
      if (got.folders[i].s) {
        EXPECT_EQ(got.folders[i].s->uniqueid, want.folders[i].s->uniqueid);
      }
      if (got.folders[i].b) {
        EXPECT_EQ(got.folders[i].b->uniqueid, want.folders[i].b->uniqueid);
      }
    }
  }
}

// ---- generated scenarios ----------------------------------------------------

struct Scenario {
  FolderInventory s, b;
  InvOpts so, bo;
};

// B: a backup folder. S: the same folder a while later (appends, expunges,
// flag changes, uid clashes), then damaged in random ways.
Scenario Generate(std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto chance = [&](int pct) { return static_cast<int>(rng() % 100) < pct; };
  Scenario sc;
  std::vector<Msg> bm, sm;
  int nb = static_cast<int>(rng() % 25);
  int content = 1;
  std::uint32_t uid = 0;
  for (int i = 0; i < nb; ++i) {
    uid += 1 + (chance(20) ? rng() % 3 : 0);
    bm.push_back({uid, content++, chance(50) ? cyrus::kFlagSeen : 0u, 1 + rng() % 10});
  }
  std::uint32_t b_last = uid + (chance(20) ? 2 : 0);
  for (const auto& m : bm) {
    if (chance(15)) continue;  // expunged+cleaned since the backup
    Msg x = m;
    if (chance(10)) x.expunged = true;
    if (chance(20)) x.flags ^= cyrus::kFlagFlagged, x.modseq += 10;
    if (chance(5)) x.content = content++;  // same uid, other message
    sm.push_back(x);
  }
  std::uint32_t suid = b_last;
  int ns = static_cast<int>(rng() % 8);
  for (int i = 0; i < ns; ++i) sm.push_back({++suid, content++, 0, 20 + rng() % 5});
  sc.bo.last_uid = b_last ? b_last : 0;
  sc.so.last_uid = std::max<std::uint32_t>(suid, 1);
  sc.so.index_ok = !chance(10);
  sc.so.dir_complete = !chance(10);
  sc.b = MakeInv(Side::kBackup, bm, sc.bo);
  sc.s = MakeInv(Side::kSalvaged, sm, sc.so);
  if (!sc.so.index_ok) sc.so.uidvalidity = sc.bo.uidvalidity;
  // Damage: files missing or damaged, bad records, orphan files, lost caches.
  for (auto& f : sc.s.files) {
    if (chance(8)) {
      f.damaged = true;
      f.hashed = false;
      f.damage = "damaged bytes at 0+512";
    }
  }
  std::erase_if(sc.s.files, [&](const FileInfo&) { return chance(5); });
  if (sc.so.index_ok && !sc.s.records.empty() && chance(15)) {
    std::size_t k = rng() % sc.s.records.size();
    std::uint32_t lo = k ? sc.s.records[k - 1].rec.uid : 0;
    std::uint32_t hi = k + 1 < sc.s.records.size() ? sc.s.records[k + 1].rec.uid : UINT32_MAX;
    sc.s.records.erase(sc.s.records.begin() + static_cast<long>(k));
    sc.s.problems.push_back({static_cast<std::uint32_t>(k), 0, "record CRC mismatch"});
    sc.s.uncertain.push_back({lo, hi});
  }
  for (auto& f : sc.s.files) {  // files without a good record need facts
    if (!sc.s.Record(f.uid) && !f.damaged) {
      f.hashed = true;
      f.has_facts = true;
    }
  }
  for (auto& r : sc.s.records)
    if (chance(10)) r.cache_ok = false;
  for (auto& r : sc.b.records)
    if (chance(10)) r.cache_ok = false;
  return sc;
}

std::set<mr::Digest> OutGuids(const FolderPlan& p) {
  std::set<mr::Digest> g;
  for (const auto& a : p.messages) g.insert(a.record.guid);
  return g;
}

TEST(PlannerProperties, GeneratedScenarios) {
  std::map<Reason, int> seen;  // the generator must reach every interesting case
  for (std::uint32_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Scenario sc = Generate(seed);
    FolderPairing pr = Pair(&sc.s, sc.so, &sc.b, sc.bo);
    FolderPlan p = PlanFolder(pr, &sc.s, &sc.b);
    for (const auto& a : p.messages) ++seen[a.reason];
    for (const auto& d : p.dropped) ++seen[d.reason];
    for (const auto& l : p.unrecoverable) ++seen[l.reason];
    // Deterministic, byte for byte.
    ASSERT_EQ(PlanBytes(p), PlanBytes(PlanFolder(pr, &sc.s, &sc.b)));
    // Well-formed output: uids unique and ascending, header covers them.
    std::uint64_t maxmod = 0;
    for (std::size_t i = 0; i < p.messages.size(); ++i) {
      if (i) {
        ASSERT_LT(p.messages[i - 1].record.uid, p.messages[i].record.uid);
      }
      ASSERT_LE(p.messages[i].record.uid, p.index.last_uid);
      maxmod = std::max(maxmod, p.messages[i].record.modseq);
    }
    ASSERT_GE(p.index.highestmodseq, maxmod);
    ASSERT_EQ(p.index.exists, p.messages.size());
    ASSERT_GE(p.index.last_uid, sc.so.index_ok ? sc.s.index->last_uid : 0u);
    auto out = OutGuids(p);
    // Every intact salvaged message is there.
    for (const auto& r : sc.s.records) {
      if (r.rec.system_flags & cyrus::kFlagExpunged) continue;
      const FileInfo* f = sc.s.File(r.rec.uid);
      if (f && f->hashed && !f->damaged && f->sha1 == r.rec.guid) {
        ASSERT_TRUE(out.count(r.rec.guid));
      }
    }
    // Every backup message is kept, or dropped on positive evidence.
    std::set<std::uint32_t> dropped_uids;
    for (const auto& d : p.dropped) {
      dropped_uids.insert(d.uid);
      if (d.reason == Reason::kDeletedSinceBackup) {
        ASSERT_TRUE(sc.s.index.has_value());
        ASSERT_TRUE(sc.s.dir_complete);
        ASSERT_LE(d.uid, sc.s.index->last_uid);
        ASSERT_FALSE(sc.s.Uncertain(d.uid));
        ASSERT_EQ(sc.s.File(d.uid), nullptr);
      } else if (d.reason == Reason::kExpungedSinceBackup) {
        ASSERT_NE(sc.s.Record(d.uid), nullptr);
        ASSERT_TRUE(sc.s.Record(d.uid)->rec.system_flags & cyrus::kFlagExpunged);
      } else {
        ASSERT_EQ(d.reason, Reason::kAlreadyPresent);
        ASSERT_TRUE(out.count(sc.b.Record(d.uid)->rec.guid));
      }
    }
    for (const auto& r : sc.b.records) {
      bool kept = out.count(r.rec.guid) > 0;
      bool lost = std::any_of(p.unrecoverable.begin(), p.unrecoverable.end(),
                              [&](const LostMessage& l) { return l.uid == r.rec.uid; });
      ASSERT_TRUE(kept || dropped_uids.count(r.rec.uid) || lost) << "backup uid " << r.rec.uid << " vanished";
    }
    // Idempotent: planning over the applied output changes nothing...
    FolderInventory applied = testing::AsApplied(p, Side::kSalvaged);
    InvOpts ao = sc.so;
    ao.uidvalidity = p.uidvalidity;
    ao.uniqueid = p.uniqueid;
    ao.index_ok = true;
    ao.dir_complete = true;
    FolderPairing pr2 = Pair(&applied, ao, &sc.b, sc.bo);
    pr2.same_folder = pr.same_folder;
    FolderPlan again = PlanFolder(pr2, &applied, &sc.b);
    ASSERT_EQ(again.messages.size(), p.messages.size());
    for (std::size_t i = 0; i < p.messages.size(); ++i) {
      ASSERT_EQ(again.messages[i].record.uid, p.messages[i].record.uid);
      ASSERT_EQ(again.messages[i].record.guid, p.messages[i].record.guid);
      ASSERT_EQ(again.messages[i].record.modseq, p.messages[i].record.modseq);
      ASSERT_EQ(again.messages[i].record.system_flags, p.messages[i].record.system_flags);
      ASSERT_EQ(again.messages[i].record.user_flags, p.messages[i].record.user_flags);
    }
    ASSERT_TRUE(again.renumbered.empty());
    ASSERT_EQ(again.index.last_uid, p.index.last_uid);
    ASSERT_EQ(again.index.highestmodseq, p.index.highestmodseq);
    ASSERT_EQ(again.index.sync_crc, p.index.sync_crc);
    // ... and so does --in-place: the output became the backup.
    FolderInventory as_backup = testing::AsApplied(p, Side::kBackup);
    InvOpts bo2 = sc.bo;
    bo2.uidvalidity = p.uidvalidity;
    bo2.uniqueid = p.uniqueid;
    FolderPairing pr3 = Pair(&sc.s, sc.so, &as_backup, bo2);
    pr3.same_folder = pr.same_folder;
    if (!pr.same_folder) continue;
    FolderPlan inplace = PlanFolder(pr3, &sc.s, &as_backup);
    ASSERT_EQ(inplace.messages.size(), p.messages.size());
    for (std::size_t i = 0; i < p.messages.size(); ++i) {
      ASSERT_EQ(inplace.messages[i].record.uid, p.messages[i].record.uid);
      ASSERT_EQ(inplace.messages[i].record.guid, p.messages[i].record.guid);
      ASSERT_EQ(inplace.messages[i].record.modseq, p.messages[i].record.modseq);
    }
    ASSERT_EQ(inplace.index.highestmodseq, p.index.highestmodseq);
  }
  for (Reason r : {Reason::kSameMessage, Reason::kNewSinceBackup, Reason::kDeletedSinceBackup,
                   Reason::kExpungedSinceBackup, Reason::kBackupOnlyNoEvidence, Reason::kUidConflictRenumbered,
                   Reason::kDamagedTakenFromBackup, Reason::kUnrecoverable, Reason::kOrphanFileKept})
    EXPECT_GT(seen[r], 0) << Code(r);
}

}  // namespace
}  // namespace mr::reconcile
