// mailboxes.db of the generated fixture stores (fixtures/make_store.py, built by the
// fixture.build test): a db Cyrus wrote while serving IMAP is read into entries that
// agree with the truth JSON, and writing them back reproduces Cyrus's records byte for
// byte (tombstones, DELETED.* copies and rename history included).
// MR_FIXTURE_DATA overrides ${MR_BINARY_DIR}/fixture-data.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cyrus_env.h"
#include "reconcile/cyrus/dlist.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::cyrus {
namespace {

std::string FixtureDir() {
  const char* env = std::getenv("MR_FIXTURE_DATA");
  return env ? env : std::string(MR_BINARY_DIR) + "/fixture-data";
}

class FixtureMboxDb : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureMboxDb, ReadsCyrusDbAndRewritesItByteForByte) {
  const std::string snap = FixtureDir() + "/" + GetParam();
  const std::string db = snap + "/conf/mailboxes.db";
  std::vector<std::string> problems;
  auto entries = ReadMailboxesDb(db, &problems);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  EXPECT_TRUE(problems.empty()) << problems.front();

  // every folder in the truth is a live entry with the same uniqueid and UIDVALIDITY
  const std::string which = GetParam().substr(GetParam().find('/') + 1);
  std::ifstream tf(FixtureDir() + "/" + GetParam().substr(0, GetParam().find('/')) +
                   "/truth-" + which + ".json");
  auto truth = nlohmann::json::parse(tf, nullptr, false);
  ASSERT_FALSE(truth.is_discarded());
  std::map<std::string, const MboxEntry*> by_name;
  for (const auto& e : *entries) by_name[e.name] = &e;
  std::size_t folders = 0;
  for (const auto& [user, fl] : truth["users"].items()) {
    for (const auto& [folder, info] : fl.items()) {
      std::string name = "user." + user + folder.substr(5);  // "INBOX" prefix
      ASSERT_TRUE(by_name.count(name)) << name;
      const MboxEntry& e = *by_name[name];
      EXPECT_FALSE(e.deleted()) << name;
      ASSERT_TRUE(info.contains("uniqueid") && info.contains("uidvalidity")) << name;
      EXPECT_EQ(e.uniqueid, info["uniqueid"]) << name;
      EXPECT_EQ(e.uidvalidity, info["uidvalidity"]) << name;
      ++folders;
    }
  }
  EXPECT_GT(folders, 5u);

  auto raw = ReadTwoskip(testing::Slurp(db), &problems);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(testing::MaskMtimes(MailboxesDbRecords(*entries)), testing::MaskMtimes(*raw));

  // and the file we write serves the same listing through the real tools
  testing::CyrusRoot root("fixture");
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE(WriteMailboxesDb(root.db(), *entries, DbFormat::kTwoskip).ok());
  root.Chown();
  int rc = 0;
  std::string ours = root.Tool("cyr_dbtool", root.db() + " twoskip show", &rc);
  ASSERT_EQ(rc, 0);
  std::string cyrus_copy = root.dir() + "/cyrus.db";
  std::filesystem::copy_file(db, cyrus_copy);
  root.Chown();
  std::string theirs = root.Tool("cyr_dbtool", cyrus_copy + " twoskip show", &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(testing::MaskMtimes(ours), testing::MaskMtimes(theirs));
}

// Every cyrus.header Cyrus wrote in the stores: its dlist line prints back byte for byte.
TEST(FixtureDlist, EveryCyrusHeaderLineRoundTrips) {
  std::size_t n = 0;
  for (const char* store : {"small-uuid", "small-legacy"}) {
    for (const auto& ent :
         std::filesystem::recursive_directory_iterator(FixtureDir() + "/" + store)) {
      if (ent.path().filename() != "cyrus.header") continue;
      auto bytes = testing::Slurp(ent.path().string());
      std::string text(bytes.begin(), bytes.end());
      std::size_t p = text.find("\n%(");
      ASSERT_NE(p, std::string::npos) << ent.path();
      std::string line = text.substr(p + 1);
      ASSERT_FALSE(line.empty());
      ASSERT_EQ(line.back(), '\n') << ent.path();
      line.pop_back();
      auto d = ParseDlist(line);
      ASSERT_TRUE(d.ok()) << ent.path() << ": " << d.error().message;
      EXPECT_EQ(FormatDlist(*d), line) << ent.path();
      EXPECT_FALSE(d->GetAtom("I").empty());
      ++n;
    }
  }
  EXPECT_GT(n, 50u);
}

INSTANTIATE_TEST_SUITE_P(Stores, FixtureMboxDb,
                         ::testing::Values("small-uuid/backup", "small-uuid/current",
                                           "small-legacy/backup", "small-legacy/current"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '/' || c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace mr::cyrus
