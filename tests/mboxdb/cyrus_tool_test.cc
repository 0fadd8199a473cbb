// mailboxes.db against the real Cyrus 3.6 tools: a db Cyrus wrote is read and rewritten
// record-for-record; a db we write from scratch is served by ctl_mboxlist and cyr_dbtool;
// flat <-> twoskip agrees with cvt_cyrusdb; Cyrus can edit our twoskip files and we read
// the edits back, also after damaging the header.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "cyrus_env.h"
#include "reconcile/cyrus/flatdb.h"
#include "reconcile/cyrus/mboxdb.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::cyrus {
namespace {

using testing::CyrusRoot;
using testing::Slurp;
using testing::Spit;

// Mailboxes given to `ctl_mboxlist -u`: spaces, dots, deep nesting, legacy dirs, a
// tombstone, virtual domain, a DELETED copy, shared folders, names that need quoting or
// literals in dlists, an intermediate, a remote server.
const char* kDump = R"({
"user.bob":{"uniqueid":"abc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000000","createdmodseq":"1","foldermodseq":"5","acl":{"bob":"lrswipkxtecdan","anyone":"p"}},
"user.bob.Sent":{"uniqueid":"bbc123def456ghi789jkl012","partition":"default","mbtype":"el","uidvalidity":"1700000001","createdmodseq":"2","foldermodseq":"2","acl":{"bob":"lrswipkxtecdan"}},
"user.bob.Gone":{"uniqueid":"dbc123def456ghi789jkl012","partition":"default","mbtype":"ed","uidvalidity":"1700000003","createdmodseq":"2","foldermodseq":"9","acl":{}},
"DELETED.user.bob.Gone.5F5E1000":{"uniqueid":"dbc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000003","createdmodseq":"2","foldermodseq":"9","acl":{"bob":"lrswipkxtecdan"}},
"user.bob.a.b.c.d.e.f.g.h.i.j":{"uniqueid":"ebc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000004","createdmodseq":"7","foldermodseq":"7","acl":{"bob":"lrswipkxtecdan"}},
"user.bob.a%b":{"uniqueid":"fbc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000005","createdmodseq":"1","foldermodseq":"1","acl":{"bob":"lrs","group:a b":"lrs"}},
"user.bob.a*b":{"uniqueid":"gbc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000006","createdmodseq":"1","foldermodseq":"1","acl":{"bob":"lrs"}},
"user.bob.Caf&AOk-":{"uniqueid":"hbc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000007","createdmodseq":"1","foldermodseq":"1","acl":{"bob":"lrs"}},
"user.bob.inter":{"uniqueid":"ibc123def456ghi789jkl012","partition":"default","mbtype":"ei","acl":{}},
"user.fred^smith.Work Stuff":{"uniqueid":"cbc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000002","createdmodseq":"3","foldermodseq":"4","acl":{"fred.smith":"lrswipkxtecdan"}},
"example.com!user.bob.Sent^x":{"uniqueid":"ybc123def456ghi789jkl012","partition":"default","mbtype":"e","uidvalidity":"1700000008","createdmodseq":"1","foldermodseq":"5","acl":{"bob@example.com":"lrswipkxtecdan"}},
"shared.Public Folder":{"uniqueid":"vbc123def456ghi789jkl012","partition":"default","server":"backend1","mbtype":"e","uidvalidity":"1700000009","createdmodseq":"1","foldermodseq":"5","acl":{"anyone":"lrs"}}
})";

std::string Show(const CyrusRoot& root, const std::string& db, const std::string& backend = "twoskip") {
  int rc = 0;
  std::string out = root.Tool("cyr_dbtool", db + " " + backend + " show", &rc);
  EXPECT_EQ(rc, 0) << "cyr_dbtool show " << db;
  return out;
}

nlohmann::json DumpJson(const CyrusRoot& root) {
  int rc = 0;
  std::string out = root.Tool("ctl_mboxlist", "-d", &rc);
  EXPECT_EQ(rc, 0);
  auto j = nlohmann::json::parse(out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j;
}

std::string ShowOf(const KvPairs& kv) {
  std::string out;
  for (const auto& [k, v] : kv) out += k + "\t" + v + "\n";
  return out;
}

TEST(CyrusMboxDb, CyrusWrittenDbIsReadAndRewrittenRecordForRecord) {
  CyrusRoot a("cyrus-written"), b("ours");
  ASSERT_TRUE(a.ok() && b.ok());
  Spit(a.dir() + "/dump.json", kDump);
  int rc = 0;
  a.Tool("ctl_mboxlist", "-u < " + a.dir() + "/dump.json", &rc);
  ASSERT_EQ(rc, 0);

  std::vector<std::string> problems;
  auto entries = ReadMailboxesDb(a.db(), &problems);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  EXPECT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(entries->size(), 12u);
  std::map<std::string, MboxEntry> by_name;
  for (const auto& e : *entries) by_name[e.name] = e;
  const MboxEntry& fred = by_name.at("user.fred^smith.Work Stuff");
  EXPECT_EQ(fred.uniqueid, "cbc123def456ghi789jkl012");
  EXPECT_EQ(fred.uidvalidity, 1700000002u);
  EXPECT_EQ(fred.createdmodseq, 3u);
  EXPECT_EQ(fred.foldermodseq, 4u);
  EXPECT_GT(fred.mtime, 0);
  EXPECT_EQ(fred.acl, (std::vector<std::pair<std::string, std::string>>{{"fred.smith", "lrswipkxtecdan"}}));
  EXPECT_EQ(by_name.at("user.bob.Sent").mbtype, "el");
  EXPECT_TRUE(by_name.at("user.bob.Gone").deleted());
  EXPECT_EQ(by_name.at("user.bob.inter").mbtype, "ei");
  EXPECT_EQ(by_name.at("shared.Public Folder").server, "backend1");
  EXPECT_EQ(by_name.at("example.com!user.bob.Sent^x").acl[0].first, "bob@example.com");
  EXPECT_EQ(by_name.at("user.bob.a%b").acl[1].first, "group:a b");

  // our records for what we read are the very bytes Cyrus wrote (but for an I record's
  // M, which Cyrus may stamp a second after the N record's)
  auto raw = ReadTwoskip(Slurp(a.db()), &problems);
  ASSERT_TRUE(raw.ok());
  KvPairs ours = MailboxesDbRecords(*entries);
  EXPECT_EQ(testing::MaskMtimes(ours), testing::MaskMtimes(*raw));
  for (const auto& [k, v] : ours) {
    if (k[0] == 'N') {
      EXPECT_NE(std::find(raw->begin(), raw->end(), std::make_pair(k, v)), raw->end()) << k;
    }
  }

  ASSERT_TRUE(WriteMailboxesDb(b.db(), *entries, DbFormat::kTwoskip).ok());
  b.Chown();
  EXPECT_EQ(testing::MaskMtimes(Show(b, b.db())), testing::MaskMtimes(Show(a, a.db())));
  EXPECT_EQ(DumpJson(b), DumpJson(a));
  b.Tool("cyr_dbtool", b.db() + " twoskip consistent", &rc);
  EXPECT_EQ(rc, 0);
}

TEST(CyrusMboxDb, DbWrittenFromScratchIsServedByCyrus) {
  CyrusRoot root("scratch");
  ASSERT_TRUE(root.ok());
  std::vector<MboxEntry> entries;
  auto add = [&](std::string name, std::string id, std::string type, std::uint32_t v) {
    MboxEntry e;
    e.name = std::move(name);
    e.uniqueid = std::move(id);
    e.mbtype = std::move(type);
    e.uidvalidity = v;
    e.createdmodseq = v % 100 + 1;
    e.foldermodseq = v % 100 + 7;
    e.mtime = 1600000000 + v % 1000;
    e.acl = {{"bob", "lrswipkxtecdan"}, {"anyone", "p"}};
    entries.push_back(e);
  };
  add("user.bob", "u0000000000000000000000a", "e", 100);
  add("user.bob.Work Stuff", "u0000000000000000000000b", "e", 101);
  add("user.bob.v1^2^3", "u0000000000000000000000c", "el", 102);
  add("user.bob.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15", "u0000000000000000000000d", "e", 103);
  add("user.bob.Trash", "u0000000000000000000000e", "ed", 104);
  add("user.fred^smith", "u0000000000000000000000f", "el", 105);
  add("user.q\"x", "u0000000000000000000000g", "e", 106);  // dlist literal for the name
  entries.back().history.push_back(
      *ParseDlist("%(N user\x1Fold P default F 3 M 1500000000 U 7)"));
  ASSERT_TRUE(WriteMailboxesDb(root.db(), entries, DbFormat::kTwoskip).ok());
  root.Chown();

  nlohmann::json j = DumpJson(root);
  ASSERT_EQ(j.size(), entries.size());
  for (const MboxEntry& e : entries) {
    ASSERT_TRUE(j.contains(e.name)) << e.name;
    const auto& m = j[e.name];
    EXPECT_EQ(m["uniqueid"], e.uniqueid);
    EXPECT_EQ(m["mbtype"], e.mbtype);
    EXPECT_EQ(m["partition"], "default");
    EXPECT_EQ(m["uidvalidity"], std::to_string(e.uidvalidity));
    EXPECT_EQ(m["createdmodseq"], std::to_string(e.createdmodseq));
    EXPECT_EQ(m["foldermodseq"], std::to_string(e.foldermodseq));
    EXPECT_EQ(m["mtime"], std::to_string(e.mtime));
    EXPECT_EQ(m["acl"]["bob"], "lrswipkxtecdan");
    EXPECT_EQ(m["acl"]["anyone"], "p");
  }
  EXPECT_EQ(Show(root, root.db()), ShowOf(MailboxesDbRecords(entries)));
  int rc = 0;
  std::string consistent = root.Tool("cyr_dbtool", root.db() + " twoskip consistent", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(consistent.find("Yes"), std::string::npos) << consistent;
}

TEST(CyrusMboxDb, FlatAndTwoskipAgreeWithCvtCyrusdb) {
  CyrusRoot root("cvt");
  ASSERT_TRUE(root.ok());
  Spit(root.dir() + "/dump.json", kDump);
  int rc = 0;
  root.Tool("ctl_mboxlist", "-u < " + root.dir() + "/dump.json", &rc);
  ASSERT_EQ(rc, 0);
  auto entries = ReadMailboxesDb(root.db());
  ASSERT_TRUE(entries.ok());
  KvPairs records = MailboxesDbRecords(*entries);
  // add binary-ish records to exercise escaping and ordering
  records.emplace_back(std::string("Zbin\t\x01\x02.\x1F" "end", 10), std::string("v\n\r\0\xff", 5));
  records.emplace_back("Z.dot", "x");
  std::sort(records.begin(), records.end());

  const std::string ours_ts = root.dir() + "/ours.twoskip", ours_flat = root.dir() + "/ours.flat";
  const std::string cvt_flat = root.dir() + "/cvt.flat", cvt_ts = root.dir() + "/cvt.twoskip";
  auto ts = WriteTwoskip(records);
  auto flat = WriteFlat(records);
  Spit(ours_ts, std::string(ts.begin(), ts.end()));
  Spit(ours_flat, std::string(flat.begin(), flat.end()));
  root.Chown();
  root.Tool("cvt_cyrusdb", ours_ts + " twoskip " + cvt_flat + " flat", &rc);
  ASSERT_EQ(rc, 0);
  root.Tool("cvt_cyrusdb", ours_flat + " flat " + cvt_ts + " twoskip", &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(Slurp(cvt_flat), flat);  // byte-identical flat file
  std::vector<std::string> problems;
  auto back = ReadTwoskip(Slurp(cvt_ts), &problems);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, records);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(ReadFlat(Slurp(cvt_flat), &problems), records);
  // and the flat mailboxes.db reads as the same entries
  std::string flat_db = root.dir() + "/conf/flat-mailboxes.db";
  ASSERT_TRUE(WriteMailboxesDb(flat_db, *entries, DbFormat::kFlat).ok());
  auto flat_entries = ReadMailboxesDb(flat_db);
  ASSERT_TRUE(flat_entries.ok());
  EXPECT_EQ(*flat_entries, *entries);
}

TEST(CyrusMboxDb, FlatMailboxesDbIsServedByCyrus) {
  CyrusRoot twoskip("flat-ref"), flat("flat", "mboxlist_db: flat");
  ASSERT_TRUE(twoskip.ok() && flat.ok());
  Spit(twoskip.dir() + "/dump.json", kDump);
  int rc = 0;
  twoskip.Tool("ctl_mboxlist", "-u < " + twoskip.dir() + "/dump.json", &rc);
  ASSERT_EQ(rc, 0);
  auto entries = ReadMailboxesDb(twoskip.db());
  ASSERT_TRUE(entries.ok());
  ASSERT_TRUE(WriteMailboxesDb(flat.db(), *entries, DbFormat::kFlat).ok());
  flat.Chown();
  EXPECT_EQ(DumpJson(flat), DumpJson(twoskip));
  EXPECT_EQ(testing::MaskMtimes(Show(flat, flat.db(), "flat")),
            testing::MaskMtimes(Show(twoskip, twoskip.db())));
}

TEST(CyrusMboxDb, CyrusEditsOfOurFileReadBackEvenWithADamagedHeader) {
  CyrusRoot root("edits");
  ASSERT_TRUE(root.ok());
  KvPairs kv;
  for (int i = 0; i < 40; ++i) kv.emplace_back("key" + std::to_string(100 + i), "value" + std::to_string(i));
  std::string path = root.dir() + "/edit.db";
  auto file = WriteTwoskip(kv);
  Spit(path, std::string(file.begin(), file.end()));
  root.Chown();
  std::map<std::string, std::string> want(kv.begin(), kv.end());
  int rc = 0;
  for (int i = 0; i < 40; i += 3) {
    std::string key = "key" + std::to_string(100 + i);
    if (i % 2) {
      root.Tool("cyr_dbtool", path + " twoskip delete " + key, &rc);
      want.erase(key);
    } else {
      root.Tool("cyr_dbtool", path + " twoskip set " + key + " replaced" + std::to_string(i), &rc);
      want[key] = "replaced" + std::to_string(i);
    }
    ASSERT_EQ(rc, 0);
  }
  root.Tool("cyr_dbtool", path + " twoskip set key000 first", &rc);
  want["key000"] = "first";
  KvPairs expect(want.begin(), want.end());
  std::vector<std::string> problems;
  auto got = ReadTwoskip(Slurp(path), &problems);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, expect);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(Show(root, path), ShowOf(expect));

  // damage the header: we must fall back to scanning and still not resurrect deletes
  auto bad = Slurp(path);
  bad[30] ^= 0x10;
  problems.clear();
  got = ReadTwoskip(bad, &problems);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, expect);
  EXPECT_FALSE(problems.empty());

  // also break the chain (head CRC of key120's record): the linear scan must still drop
  // the deleted keys and lose only key120
  const std::string needle = "key120value20";
  auto at = std::search(bad.begin(), bad.end(), needle.begin(), needle.end());
  ASSERT_NE(at, bad.end());
  *(at - 8) ^= 0x01;
  problems.clear();
  got = ReadTwoskip(bad, &problems);
  ASSERT_TRUE(got.ok());
  want.erase("key120");
  EXPECT_EQ(*got, KvPairs(want.begin(), want.end()));
  bool scanned = false;
  for (const auto& p : problems) scanned |= p.find("scanning") != std::string::npos;
  EXPECT_TRUE(scanned);
}

}  // namespace
}  // namespace mr::cyrus
