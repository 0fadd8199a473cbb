// orchestrate/attribute: the user rescue extracts a salvaged folder directory
// with is the one reconcile will look for it under (reconcile/discovery.h
// FolderIndex), decided before its cyrus.header can be read from the output.
#include "orchestrate/attribute.h"

#include <gtest/gtest.h>

#include "common/cyrus_layout.h"

namespace mr::orchestrate {
namespace {

SalvagedDb Db(bool ok) {
  SalvagedDb db;
  db.ok = ok;
  db.name_by_id = {{"c9i1d0fl8jvbehxs32jgjgd6", "user.alice.L1"},
                   {"a7zepaflleca0293eobh59fz", "user.bob"},
                   {"pq0aaaaaaaaaaaaaaaaaaaaa", "shared.news"},
                   {"dd0aaaaaaaaaaaaaaaaaaaaa", "DELETED.user.carol.5F00AA"}};
  db.live_name_by_id = db.name_by_id;
  db.live_name_by_id.erase("dd0aaaaaaaaaaaaaaaaaaaaa");
  return db;
}

TEST(FolderUnit, TheCleanDbNamesAUuidDirectoryWhateverItsHeaderSays) {
  EXPECT_EQ(FolderUnit(Db(true), "uuid/c/9/c9i1d0fl8jvbehxs32jgjgd6", ""), "alice");
  EXPECT_EQ(FolderUnit(Db(true), "uuid/c/9/c9i1d0fl8jvbehxs32jgjgd6", "bob"), "alice");
  EXPECT_EQ(FolderUnit(Db(true), "uuid/p/q/pq0aaaaaaaaaaaaaaaaaaaaa", ""), std::string(kSharedUnit));
  EXPECT_EQ(FolderUnit(Db(true), "uuid/d/d/dd0aaaaaaaaaaaaaaaaaaaaa", ""), std::nullopt);  // delayed delete
  EXPECT_EQ(FolderUnit(Db(true), "uuid/z/z/zz0aaaaaaaaaaaaaaaaaaaaa", ""), std::nullopt);  // nobody names it
}

TEST(FolderUnit, ADamagedDbIsBelievedOnlyWhereTheHeaderSaysNothing) {
  EXPECT_EQ(FolderUnit(Db(false), "uuid/c/9/c9i1d0fl8jvbehxs32jgjgd6", "bob"), std::nullopt);
  EXPECT_EQ(FolderUnit(Db(false), "uuid/c/9/c9i1d0fl8jvbehxs32jgjgd6", ""), "alice");
}

TEST(FolderUnit, ALegacyPathNamesItsUser) {
  EXPECT_EQ(FolderUnit(Db(true), "a/user/alice", ""), "alice");
  EXPECT_EQ(FolderUnit(Db(true), "user/alice/Sent", ""), "alice");
  EXPECT_EQ(FolderUnit(Db(true), "domain/e/example.com/b/user/bob", ""), "bob@example.com");
  EXPECT_EQ(FolderUnit(Db(true), "a/user/alice", "alice"), std::nullopt);  // the header said so already
  EXPECT_EQ(FolderUnit(Db(true), "DELETED/user/alice/Sent/5F00AA", ""), std::nullopt);
}

TEST(FolderMoves, OnlyDirectoriesInAnotherGroupThanTheirUserMove) {
  std::vector<salvage::FolderDirGroup> dirs = {
      {1, "spool/uuid/c/9/c9i1d0fl8jvbehxs32jgjgd6", ""},       // garbage header: rest -> alice
      {2, "spool/uuid/a/7/a7zepaflleca0293eobh59fz", "bob"},    // already bob's
      {3, "spool/uuid/p/q/pq0aaaaaaaaaaaaaaaaaaaaa", "alice"},  // the db says shared: to the rest
      {4, "spool/uuid/z/z/zz0aaaaaaaaaaaaaaaaaaaaa", ""},       // no evidence: stays
  };
  auto moves = FolderMoves(Db(true), dirs);
  EXPECT_EQ(moves, (std::vector<std::pair<std::int32_t, std::string>>{{1, "alice"}, {3, ""}}));
}

}  // namespace
}  // namespace mr::orchestrate
