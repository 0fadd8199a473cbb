// verify on garbage: random mutations and truncations of a real folder's
// cyrus.index, cyrus.header and cyrus.cache, and of mailboxes.db, give
// findings (or a clean Error for an unreadable db), never a crash or hang.
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/cyrus_layout.h"
#include "reconcile/verify.h"
#include "tests/verify/store_fixture.h"

namespace mr::testing {
namespace {

enum class Expect { kFinding, kAnything };

// Applies `rounds` random damages to `path`, each time verifying `user`.
void Mutate(const StoreDirs& s, const std::string& path, const std::string& user, int rounds,
            Expect expect, unsigned seed) {
  const std::vector<std::uint8_t> orig = Slurp(path);
  ASSERT_FALSE(orig.empty());
  std::mt19937 rng(seed);
  verify::VerifyOptions o;
  o.spool = s.spool();
  o.db = s.db();
  for (int i = 0; i < rounds; ++i) {
    std::vector<std::uint8_t> b = orig;
    switch (rng() % 4) {
      case 0:  // one flipped bit
        b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // truncated
        b.resize(rng() % b.size());
        break;
      case 2: {  // a run of garbage
        std::size_t at = rng() % b.size(), n = 1 + rng() % 64;
        for (std::size_t k = at; k < b.size() && k < at + n; ++k)
          b[k] = static_cast<std::uint8_t>(rng());
        break;
      }
      default:  // bytes appended
        for (int k = 0; k < 1 + static_cast<int>(rng() % 300); ++k)
          b.push_back(static_cast<std::uint8_t>(rng()));
        break;
    }
    Spit(path, b);
    auto v = verify::VerifyUser(o, user);
    if (path == s.db()) continue;  // damaged db: findings or a clean Error, both fine
    ASSERT_TRUE(v.ok()) << v.error().message;
    if (expect == Expect::kFinding && b != orig && b.size() <= orig.size()) {
      EXPECT_FALSE(v->problems.empty()) << "round " << i << " of " << path;
    }
  }
  Spit(path, orig);
  auto v = verify::VerifyUser(o, user);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->problems.empty()) << v->problems.front();
}

class VerifyRobustness : public ::testing::Test {
 protected:
  void SetUp() override {
    // One copy per test: ctest runs the tests as parallel processes.
    s_ = CopyStore(PristineStore("uuid"),
                   std::string("robustness_") +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    f_ = PickFolder(s_, 2);
    user_ = UserOf(f_.entry.name);
  }
  StoreDirs s_;
  FolderAt f_;
  std::string user_;
};

TEST_F(VerifyRobustness, IndexDamageIsAlwaysAFinding) {
  Mutate(s_, f_.dir + "/cyrus.index", user_, 150, Expect::kFinding, 1);
}

TEST_F(VerifyRobustness, HeaderDamageIsAlwaysAFinding) {
  // cyrus.index keeps the CRC of the whole header file.
  Mutate(s_, f_.dir + "/cyrus.header", user_, 100, Expect::kFinding, 2);
}

TEST_F(VerifyRobustness, CacheDamageNeverCrashes) {
  Mutate(s_, f_.dir + "/cyrus.cache", user_, 100, Expect::kAnything, 3);
}

TEST_F(VerifyRobustness, DbDamageNeverCrashes) {
  Mutate(s_, s_.db(), user_, 100, Expect::kAnything, 4);
}

}  // namespace
}  // namespace mr::testing
