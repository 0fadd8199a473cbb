// Per-user seen/subscription files: taken from the salvaged config directory
// when there, else the backup's, placed under the output INBOX's uniqueid.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/fsutil.h"
#include "reconcile/userfiles.h"

namespace mr::reconcile {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class UserFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-userfiles-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    req_.user = "bob";
    req_.s_conf = root_ + "/s";
    req_.b_conf = root_ + "/b";
    req_.out_conf = root_ + "/out";
    req_.s_inbox_uniqueid = "sid000000000000000000001";
    req_.b_inbox_uniqueid = "bid000000000000000000001";
    req_.out_inbox_uniqueid = "sid000000000000000000001";
  }
  void TearDown() override { fs::remove_all(root_); }
  void Put(const std::string& p, const std::string& text) {
    ASSERT_TRUE(MakeDirs(p.substr(0, p.rfind('/'))).ok());
    std::ofstream(p) << text;
  }
  std::string root_;
  UserFilesRequest req_;
};

TEST_F(UserFilesTest, SalvagedWinsPerFileBackupFillsTheGaps) {
  Put(root_ + "/s/user/uuid/s/i/sid000000000000000000001/sub.db", "S subs");
  Put(root_ + "/b/user/uuid/b/i/bid000000000000000000001/sub.db", "B subs");
  Put(root_ + "/b/user/uuid/b/i/bid000000000000000000001/seen.db", "B seen");
  ASSERT_TRUE(CopyUserFiles(req_).ok());
  std::string out = root_ + "/out/user/uuid/s/i/sid000000000000000000001/";
  EXPECT_EQ(Slurp(out + "sub.db"), "S subs");
  EXPECT_EQ(Slurp(out + "seen.db"), "B seen");
}

TEST_F(UserFilesTest, LegacyLayoutFiles) {
  Put(root_ + "/b/user/b/bob.sub", "legacy subs");
  req_.out_legacy = true;
  ASSERT_TRUE(CopyUserFiles(req_).ok());
  EXPECT_EQ(Slurp(root_ + "/out/user/b/bob.sub"), "legacy subs");
  EXPECT_FALSE(fs::exists(root_ + "/out/user/b/bob.seen"));
}

// Where Cyrus 3.6 itself puts them (seen with a real Cyrus, virtdomains: userid): named by
// the local part as the user logs in, a virtual domain's users under domain/<h>/<domain>/.
TEST_F(UserFilesTest, LegacyFilesOfDottedAndVirtualDomainUsers) {
  req_.out_legacy = true;
  req_.user = "fred^smith@example.org";
  Put(root_ + "/s/domain/e/example.org/user/f/fred.smith.sub", "fred subs");
  ASSERT_TRUE(CopyUserFiles(req_).ok());
  EXPECT_EQ(Slurp(root_ + "/out/domain/e/example.org/user/f/fred.smith.sub"), "fred subs");

  req_.user = "fred^smith";
  Put(root_ + "/b/user/f/fred.smith.sub", "plain fred subs");
  ASSERT_TRUE(CopyUserFiles(req_).ok());
  EXPECT_EQ(Slurp(root_ + "/out/user/f/fred.smith.sub"), "plain fred subs");
}

TEST_F(UserFilesTest, InPlaceLeavesTheBackupFileAlone) {
  req_.out_conf = req_.b_conf;
  req_.out_inbox_uniqueid = req_.b_inbox_uniqueid;
  Put(root_ + "/b/user/uuid/b/i/bid000000000000000000001/sub.db", "B subs");
  ASSERT_TRUE(CopyUserFiles(req_).ok());
  EXPECT_EQ(Slurp(root_ + "/b/user/uuid/b/i/bid000000000000000000001/sub.db"), "B subs");
}

TEST_F(UserFilesTest, NothingToCarryIsFine) {
  EXPECT_TRUE(CopyUserFiles(req_).ok());
  EXPECT_FALSE(fs::exists(root_ + "/out/user"));
}

}  // namespace
}  // namespace mr::reconcile
