// mailboxes.db records: name conversion, exact Cyrus 3.6 value bytes, N/I join rules,
// file round trips in both backends.
#include "reconcile/cyrus/mboxdb.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "common/fsutil.h"

namespace mr::cyrus {
namespace {

TEST(MboxDb, NameConversion) {
  const std::pair<std::string, std::string> cases[] = {
      {"user.bob", "user\x1F" "bob"},
      {"user.bob.Sent", "user\x1F" "bob\x1FSent"},
      {"user.fred^smith.Work Stuff", "user\x1F" "fred.smith\x1FWork Stuff"},
      {"example.com!user.bob.Sent^x", "example.com\x1Duser\x1F" "bob\x1FSent.x"},
      {"DELETED.user.plain.Old.5F5E1000", "DELETED\x1Fuser\x1Fplain\x1FOld\x1F" "5F5E1000"},
      {"shared.Public Folder", "shared\x1FPublic Folder"},
  };
  for (const auto& [internal, db] : cases) {
    EXPECT_EQ(DbKeyFromInternal(internal), db);
    EXPECT_EQ(InternalFromDbKey(db), internal);
  }
}

std::vector<MboxEntry> Sample() {
  MboxEntry bob;
  bob.name = "user.bob";
  bob.uniqueid = "abc123def456ghi789jkl012";
  bob.uidvalidity = 1700000000;
  bob.createdmodseq = 1;
  bob.foldermodseq = 5;
  bob.mtime = 1795865006;
  bob.acl = {{"bob", "lrswipkxtecdan"}, {"anyone", "p"}};
  bob.server = "backend1";
  MboxEntry fred;
  fred.name = "user.fred^smith.Work Stuff";
  fred.uniqueid = "cbc123def456ghi789jkl012";
  fred.uidvalidity = 1700000002;
  fred.createdmodseq = 3;
  fred.foldermodseq = 4;
  fred.mtime = 1795865006;
  fred.acl = {{"fred.smith", "lrswipkxtecdan"}};
  MboxEntry gone;
  gone.name = "user.bob.Gone";
  gone.uniqueid = "dbc123def456ghi789jkl012";
  gone.mbtype = "ed";
  gone.uidvalidity = 1700000003;
  gone.createdmodseq = 2;
  gone.foldermodseq = 9;
  gone.mtime = 1795865006;
  return {bob, fred, gone};
}

// The exact records real Cyrus 3.6.1 (ctl_mboxlist -u, cyr_dbtool show) wrote for these.
TEST(MboxDb, RecordsAreByteIdenticalToCyrus) {
  KvPairs want = {
      {"Iabc123def456ghi789jkl012",
       "%(T e N user\x1F" "bob P default S backend1 V 1700000000 C 1 F 5 M 1795865006 "
       "A %(bob lrswipkxtecdan anyone p) H ())"},
      {"Icbc123def456ghi789jkl012",
       "%(T e N \"user\x1F" "fred.smith\x1FWork Stuff\" P default V 1700000002 C 3 F 4 "
       "M 1795865006 A %(fred.smith lrswipkxtecdan) H ())"},
      {"Idbc123def456ghi789jkl012",
       "%(T ed N user\x1F" "bob\x1FGone P default V 1700000003 C 2 F 9 M 1795865006 A %() H ())"},
      {"Nuser\x1F" "bob",
       "%(T e I abc123def456ghi789jkl012 P default S backend1 V 1700000000 C 1 F 5 "
       "M 1795865006 A %(bob lrswipkxtecdan anyone p))"},
      {"Nuser\x1F" "bob\x1FGone",
       "%(T ed I dbc123def456ghi789jkl012 P default V 1700000003 C 2 F 9 M 1795865006 A %())"},
      {"Nuser\x1F" "fred.smith\x1FWork Stuff",
       "%(T e I cbc123def456ghi789jkl012 P default V 1700000002 C 3 F 4 M 1795865006 "
       "A %(fred.smith lrswipkxtecdan))"},
  };
  EXPECT_EQ(MailboxesDbRecords(Sample()), want);
  // zero V/C/F are left out, as Cyrus does
  MboxEntry carol;
  carol.name = "user.carol";
  carol.uniqueid = "e1";
  carol.mtime = 7;
  carol.acl = {{"carol", "lrs"}};
  KvPairs got = MailboxesDbRecords({carol});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].second, "%(T e I e1 P default M 7 A %(carol lrs))");
}

TEST(MboxDb, RecordsReadBackToTheSameEntries) {
  auto entries = Sample();
  entries[0].history.push_back(*ParseDlist("%(F 3 M 1700000000 N user\x1Fold P default)"));
  std::vector<std::string> problems;
  auto back = EntriesFromRecords(MailboxesDbRecords(entries), &problems);
  std::sort(entries.begin(), entries.end(),
            [](const MboxEntry& a, const MboxEntry& b) { return a.name < b.name; });
  EXPECT_EQ(back, entries);
  EXPECT_TRUE(problems.empty());
}

TEST(MboxDb, JoinToleratesMissingAndOrphanRecords) {
  KvPairs recs = MailboxesDbRecords(Sample());
  // drop bob's I record and fred's N record; add junk
  KvPairs damaged;
  for (auto& kv : recs) {
    if (kv.first == "Iabc123def456ghi789jkl012") continue;
    if (kv.first == "Nuser\x1F" "fred.smith\x1FWork Stuff") continue;
    damaged.push_back(kv);
  }
  damaged.emplace_back("Nuser\x1Fjunk", "%(T e I zz");       // unparseable
  damaged.emplace_back("Zsomething", "x");                    // unknown key
  damaged.emplace_back("A$RACL", "whatever");                 // ignored
  std::vector<std::string> problems;
  auto got = EntriesFromRecords(damaged, &problems);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].name, "user.bob");
  EXPECT_EQ(got[0].uidvalidity, 1700000000u);
  EXPECT_EQ(got[1].name, "user.bob.Gone");
  EXPECT_TRUE(got[1].deleted());
  EXPECT_EQ(got[2].name, "user.fred^smith.Work Stuff");  // rebuilt from its I record
  EXPECT_EQ(got[2].acl, Sample()[1].acl);
  EXPECT_EQ(problems.size(), 4u);  // no I for bob, no N for fred, unparseable, unknown key
  for (const auto& p : problems) EXPECT_EQ(p.find('\n'), std::string::npos);
}

TEST(MboxDb, SharedUniqueidKeepsTheLiveMailboxInTheIRecord) {
  MboxEntry tomb;
  tomb.name = "user.bob.X";
  tomb.uniqueid = "u1";
  tomb.mbtype = "ed";
  MboxEntry live = tomb;
  live.name = "DELETED.user.bob.X.5F5E1000";
  live.mbtype = "e";
  for (auto order : {std::vector<MboxEntry>{tomb, live}, std::vector<MboxEntry>{live, tomb}}) {
    KvPairs recs = MailboxesDbRecords(order);
    ASSERT_EQ(recs.size(), 3u);
    EXPECT_EQ(recs[0].first, "Iu1");
    EXPECT_NE(recs[0].second.find("N DELETED\x1Fuser"), std::string::npos) << recs[0].second;
  }
}

class MboxDbFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mr-mboxdb-unit-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(MboxDbFile, WritesAndReadsBothFormats) {
  auto entries = Sample();
  std::sort(entries.begin(), entries.end(),
            [](const MboxEntry& a, const MboxEntry& b) { return a.name < b.name; });
  for (DbFormat fmt : {DbFormat::kTwoskip, DbFormat::kFlat}) {
    std::string path = (dir_ / "mailboxes.db").string();
    ASSERT_TRUE(WriteMailboxesDb(path, entries, fmt).ok());
    std::vector<std::string> problems;
    auto back = ReadMailboxesDb(path, &problems);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, entries);
    EXPECT_TRUE(problems.empty());
    // no temp files left behind
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_),
                            std::filesystem::directory_iterator()), 1);
  }
}

TEST_F(MboxDbFile, RejectsDuplicatesAndReportsUnreadableFiles) {
  auto entries = Sample();
  entries.push_back(entries[0]);
  EXPECT_FALSE(WriteMailboxesDb((dir_ / "x.db").string(), entries, DbFormat::kTwoskip).ok());
  auto missing = ReadMailboxesDb((dir_ / "nope.db").string());
  ASSERT_FALSE(missing.ok());
  std::string garbage(300, '\x01');
  ASSERT_TRUE(WriteFileAtomic((dir_ / "g.db").string(), garbage).ok());
  auto g = ReadMailboxesDb((dir_ / "g.db").string());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("g.db"), std::string::npos);
}

TEST_F(MboxDbFile, TruncatedTwoskipYieldsTheIntactEntriesWithProblems) {
  std::vector<MboxEntry> entries;
  for (int i = 0; i < 40; ++i) {
    MboxEntry e = Sample()[0];
    e.name = "user.u" + std::to_string(100 + i);
    e.uniqueid = "id" + std::to_string(100 + i);
    entries.push_back(e);
  }
  std::string path = (dir_ / "mailboxes.db").string();
  ASSERT_TRUE(WriteMailboxesDb(path, entries, DbFormat::kTwoskip).ok());
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  for (std::size_t cut : {bytes->size() * 3 / 5, bytes->size() - 30, std::size_t{500}}) {
    std::string part(bytes->begin(), bytes->begin() + static_cast<long>(cut));
    ASSERT_TRUE(WriteFileAtomic(path + ".cut", part).ok());
    std::vector<std::string> problems;
    auto got = ReadMailboxesDb(path + ".cut", &problems);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_FALSE(problems.empty());
    for (const MboxEntry& e : *got) {
      auto it = std::find_if(entries.begin(), entries.end(),
                             [&](const MboxEntry& x) { return x.name == e.name; });
      ASSERT_NE(it, entries.end()) << e.name;
      EXPECT_EQ(e.uniqueid, it->uniqueid);
      EXPECT_EQ(e.acl, it->acl);
    }
    if (cut == bytes->size() - 30) {
      EXPECT_EQ(got->size(), entries.size());  // only the commit record is lost
    }
  }
}

TEST(MboxDb, GarbageRecordsNeverCrashTheJoin) {
  std::mt19937 rng(99);
  const char alphabet[] = "NI%()TPAHVCFM {}+\r\n\"\x1f" "0123ed";
  for (int i = 0; i < 3000; ++i) {
    KvPairs recs;
    for (int r = 0; r < 4; ++r) {
      std::string k(1, "NIAZ"[rng() % 4]), v = "%(";
      for (int j = static_cast<int>(rng() % 30); j > 0; --j) {
        k.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
        v.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
      }
      recs.emplace_back(k, v);
    }
    std::vector<std::string> problems;
    auto got = EntriesFromRecords(recs, &problems);
    EXPECT_LE(got.size(), recs.size());
    for (const auto& p : problems) ASSERT_EQ(p.find_first_of("\r\n"), std::string::npos) << p;
  }
}

}  // namespace
}  // namespace mr::cyrus
