// salvage.json as reconcile reads it: incomplete directories (and what they
// hide), damaged files, users salvage finished.
#include <gtest/gtest.h>

#include "reconcile/inventory.h"
#include "reconcile/salvage_manifest.h"

namespace mr::reconcile {
namespace {

const char* kManifest = R"({"tool":"mailrescue","command":"salvage",
 "dirs":[{"path":"spool/uuid/a","ino":5,"complete":false},{"path":"spool/uuid/b/c/x","ino":6,"complete":true}],
 "files":[{"path":"spool/uuid/b/c/x/1.","ino":7,"size":10,"sha1":"00","mtime":1,"damaged":[]},
          {"path":"spool/uuid/b/c/x/2.","ino":8,"size":10,"sha1":"00","mtime":1,"damaged":[[4096,512]]}],
 "users":[{"user":"bob","done":true},{"user":"eve","done":false}]})";

TEST(SalvageManifest, ReadsWhatReconcileNeeds) {
  auto m = ParseSalvageManifest(kManifest, "salvage.json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->present);
  EXPECT_FALSE(m->DirComplete("spool/uuid/a"));
  EXPECT_FALSE(m->DirComplete("spool/uuid/a/b/abc"));  // below an incomplete directory
  EXPECT_TRUE(m->DirComplete("spool/uuid/b/c/x"));
  EXPECT_TRUE(m->AnyIncompleteUnder("spool/uuid"));
  EXPECT_FALSE(m->AnyIncompleteUnder("spool/uuid/b"));
  EXPECT_EQ(m->Damage("spool/uuid/b/c/x/1."), nullptr);
  ASSERT_NE(m->Damage("spool/uuid/b/c/x/2."), nullptr);
  EXPECT_EQ(*m->Damage("spool/uuid/b/c/x/2."), "damaged bytes at 4096+512");
  EXPECT_EQ(m->damaged_files.size(), 1u);  // intact files are not kept in memory
  EXPECT_TRUE(m->UserDone("bob"));
  EXPECT_FALSE(m->UserDone("eve"));
  EXPECT_TRUE(m->UserDone("nobody-listed"));
}

TEST(SalvageManifest, BadJsonIsAnErrorNamingTheFile) {
  auto m = ParseSalvageManifest("{\"dirs\": [", "/x/salvage.json");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("/x/salvage.json"), std::string::npos);
  EXPECT_FALSE(ParseSalvageManifest("[1,2]", "s").ok());
}

TEST(SalvageManifest, MissingFileMeansFullyReadable) {
  auto m = ReadSalvageManifest("/nonexistent/salvage.json");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->present);
  EXPECT_TRUE(m->DirComplete("spool/anything"));
}

TEST(Inventory, MessageFileNames) {
  EXPECT_EQ(UidFromFileName("1."), 1u);
  EXPECT_EQ(UidFromFileName("4294967295."), 4294967295u);
  EXPECT_FALSE(UidFromFileName("4294967296."));
  EXPECT_FALSE(UidFromFileName("0."));
  EXPECT_FALSE(UidFromFileName("01."));
  EXPECT_FALSE(UidFromFileName("1"));
  EXPECT_FALSE(UidFromFileName("cyrus.index"));
  EXPECT_FALSE(UidFromFileName("1a."));
  EXPECT_FALSE(UidFromFileName("."));
}

TEST(Inventory, UncertainUidIntervals) {
  FolderInventory inv;
  inv.uncertain = {{0, 3}, {5, 9}, {20, 4294967295u}};
  for (std::uint32_t u : {1u, 2u, 6u, 8u, 21u, 4000000000u}) EXPECT_TRUE(inv.Uncertain(u)) << u;
  for (std::uint32_t u : {0u, 3u, 4u, 5u, 9u, 10u, 20u}) EXPECT_FALSE(inv.Uncertain(u)) << u;
  inv.uncertain.clear();
  EXPECT_FALSE(inv.Uncertain(7));
}

TEST(Inventory, MissingDirectoryIsDataNotAnError) {
  InventoryOptions o;
  auto inv = InventoryFolder(Side::kSalvaged, "/nonexistent", "uuid/a/b/ab", "user.bob", o);
  EXPECT_FALSE(inv.dir_exists);
  EXPECT_FALSE(inv.index.has_value());
  EXPECT_NE(inv.index_error.find("no such folder directory"), std::string::npos);
}

}  // namespace
}  // namespace mr::reconcile
