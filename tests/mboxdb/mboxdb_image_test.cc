// MboxDbImage: whatever sequence of Put/Erase, its bytes are exactly what
// WriteMailboxesDb's records give for the same entries (twoskip and flat), including the
// awkward cases: names that map to one db key, entries sharing a uniqueid (a tombstone and
// a DELETED.* copy), empty uniqueids, entries replaced in place.
#include "reconcile/cyrus/mboxdb_image.h"

#include <gtest/gtest.h>

#include <random>

#include "reconcile/cyrus/flatdb.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::cyrus {
namespace {

std::vector<std::uint8_t> Reference(const MboxDbImage& img, DbFormat f) {
  std::vector<MboxEntry> entries;
  for (const auto& [n, e] : img.entries()) entries.push_back(e);
  KvPairs records = MailboxesDbRecords(entries);
  return f == DbFormat::kTwoskip ? WriteTwoskip(records) : WriteFlat(records);
}

MboxEntry Entry(const std::string& name, const std::string& id, const std::string& type, std::uint32_t v) {
  MboxEntry e;
  e.name = name;
  e.uniqueid = id;
  e.mbtype = type;
  e.uidvalidity = v;
  e.mtime = 1700000000 + v;
  e.acl = {{"anyone", "lrs"}};
  return e;
}

TEST(MboxDbImage, EmptyImageIsAnEmptyDatabase) {
  MboxDbImage img;
  EXPECT_EQ(img.Bytes(DbFormat::kTwoskip), WriteTwoskip({}));
  EXPECT_TRUE(img.Bytes(DbFormat::kFlat).empty());
}

TEST(MboxDbImage, SharedUniqueidGivesTheIRecordOfTheLiveEntry) {
  MboxDbImage img;
  ASSERT_TRUE(img.Put(Entry("user.bob.Old", "id1", "ed", 5)).ok());
  ASSERT_TRUE(img.Put(Entry("DELETED.user.bob.Old.5F1A2B3C", "id1", "e", 5)).ok());
  EXPECT_EQ(img.Bytes(DbFormat::kTwoskip), Reference(img, DbFormat::kTwoskip));
  img.Erase("DELETED.user.bob.Old.5F1A2B3C");  // the tombstone gives the I record again
  EXPECT_EQ(img.Bytes(DbFormat::kTwoskip), Reference(img, DbFormat::kTwoskip));
  img.Erase("user.bob.Old");
  EXPECT_EQ(img.Bytes(DbFormat::kTwoskip), WriteTwoskip({}));
}

TEST(MboxDbImage, NamesWithOneDbKeyKeepTheLastByName) {
  MboxDbImage img;
  // "user.a.b" and "user.a\x1F" "b" both become the db key user\x1Fa\x1Fb.
  ASSERT_TRUE(img.Put(Entry("user.a.b", "id1", "e", 1)).ok());
  ASSERT_TRUE(img.Put(Entry(std::string("user.a\x1F") + "b", "id2", "e", 2)).ok());
  EXPECT_EQ(img.Bytes(DbFormat::kTwoskip), Reference(img, DbFormat::kTwoskip));
  img.Erase("user.a.b");
  EXPECT_EQ(img.Bytes(DbFormat::kTwoskip), Reference(img, DbFormat::kTwoskip));
}

TEST(MboxDbImage, EmptyNameIsRefused) {
  MboxDbImage img;
  EXPECT_EQ(img.Put(Entry("", "id", "e", 1)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(img.entries().empty());
}

TEST(MboxDbImage, RandomPutsAndErasesMatchTheFullRewrite) {
  std::mt19937 rng(20261128);
  const std::vector<std::string> types = {"e", "ed", "el", "ei", "e"};
  for (int round = 0; round < 40; ++round) {
    MboxDbImage img;
    for (int step = 0; step < 150; ++step) {
      const int u = static_cast<int>(rng() % 6);
      const int f = static_cast<int>(rng() % 5);
      std::string name = "user.u" + std::to_string(u) + (f ? ".F" + std::to_string(f) : "");
      if (rng() % 7 == 0) name = "DELETED." + name + ".5F1A2B3" + std::to_string(f);
      if (rng() % 11 == 0) name = "shared.s" + std::to_string(f);
      if (rng() % 4 == 0) {
        img.Erase(name);
      } else {
        // few uniqueids, so entries share them often; some have none
        std::string id = rng() % 9 == 0 ? "" : "id" + std::to_string(rng() % 12);
        ASSERT_TRUE(img.Put(Entry(name, id, types[rng() % types.size()], static_cast<std::uint32_t>(rng() % 1000))).ok());
      }
      if (step % 10 == 9) {
        ASSERT_EQ(img.Bytes(DbFormat::kTwoskip), Reference(img, DbFormat::kTwoskip)) << round << "/" << step;
        ASSERT_EQ(img.Bytes(DbFormat::kFlat), Reference(img, DbFormat::kFlat)) << round << "/" << step;
      }
    }
  }
}

}  // namespace
}  // namespace mr::cyrus
