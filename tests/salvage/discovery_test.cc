// Where salvage puts things when the filesystem tree above or around the spool
// is damaged: the layout and the partition root inferred from what is there
// (not from a path that reaches them), lost config directories and lost
// mailboxes.db files used as DIR/conf, and a legacy folder's lost metadata
// put back by what the files say. Each test damages a tiny image with
// debugfs; the image's SHA-256 must be the same after the run.
#include <gtest/gtest.h>

#include <set>

#include "test_util.h"

namespace mr::salvage {
namespace {

using namespace test;

const std::string kSpool = "stage/var/spool/cyrus/mail";
const std::string kConf = "stage/var/lib/cyrus";

// A flat mailboxes.db naming alice's and bob's folders (what a lost one is recognised by).
std::string FlatMailboxesDb() {
  return "Iaa1111\t%(T e N user\x1f" "alice P default V 1 C 1 F 1 M 1 A %(alice lrs) H ())\n"
         "Ibb2222\t%(T e N user\x1f" "bob P default V 1 C 1 F 1 M 1 A %(bob lrs) H ())\n"
         "Nuser\x1f" "alice\t%(T e I aa1111 P default V 1 C 1 F 1 M 1 A %(alice lrs))\n"
         "Nuser\x1f" "bob\t%(T e I bb2222 P default V 1 C 1 F 1 M 1 A %(bob lrs))\n";
}

// A twoskip annotations.db with one key naming alice's INBOX by uniqueid (the magic and
// a key are all salvage looks at).
std::string AnnotationsDb() {
  std::string s("\241\002\213\015twoskip file\0\0\0\0", 20);
  s += std::string(44, '\0');
  s += std::string("aa1111\0/comment\0\0", 17) + "alice inbox note";
  return s;
}

// The config directory as Cyrus keeps it (legacy per-user files, quota, runtime dirs).
void StageConf(const std::string& conf, bool with_db = true) {
  if (with_db) WriteText(conf + "/mailboxes.db", FlatMailboxesDb());
  WriteText(conf + "/annotations.db", AnnotationsDb());
  WriteText(conf + "/user/a/alice.sub", "user.alice.Sent\t\n");
  WriteText(conf + "/user/b/bob.seen", "seen state\n");
  WriteText(conf + "/quota/a/user.alice", "%(S %(STORAGE 10))\n");
  fs::create_directories(conf + "/proc");
  fs::create_directories(conf + "/socket");
}

// Legacy hashed layout: alice (INBOX, Sent), bob (INBOX).
void StageLegacySpool(const std::string& spool) {
  StageFolder(spool + "/a/user/alice", "aa1111", "user.alice", {"alice one\r\n", "alice two\r\n"});
  StageFolder(spool + "/a/user/alice/Sent", "as3333", "user.alice.Sent", {"sent one\r\n"});
  StageFolder(spool + "/b/user/bob", "bb2222", "user.bob", {"bob one\r\n"});
}

std::set<std::string> Users(const nlohmann::json& m) {
  std::set<std::string> users;
  for (const auto& u : m["users"]) {
    users.insert(u["user"].get<std::string>());
    EXPECT_TRUE(u["done"].get<bool>()) << u.dump();
  }
  return users;
}

std::string Notes(const nlohmann::json& m) {
  std::string s;
  for (const auto& d : m["filesystem"]["damage"]) s += d["kind"].get<std::string>() + ": " + d["detail"].get<std::string>() + "\n";
  return s;
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// F3 + F6: /var's one directory block garbled. /var/spool and /var/lib are lost
// directories; nothing is reachable by path. The legacy layout must be seen in the lost
// tree (folders nested in their parents, hashed user paths), the partition root found
// in it, every folder kept where it was (never moved to uuid paths), and the lost
// /var/lib/cyrus used as the config directory.
TEST(SalvageDiscovery, LegacySpoolAndConfigUnderAGarbledVarAreFoundInTheLostTrees) {
  TempDir t;
  StageLegacySpool(t / kSpool);
  StageConf(t / kConf);
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "zap_block -f /var -p 0xa5 0", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(ReadText(t / "out/spool/a/user/alice/1."), "alice one\r\n") << Notes(m);
  EXPECT_EQ(ReadText(t / "out/spool/a/user/alice/Sent/1."), "sent one\r\n");
  EXPECT_EQ(ReadText(t / "out/spool/b/user/bob/1."), "bob one\r\n");
  EXPECT_TRUE(fs::exists(t / "out/spool/a/user/alice/Sent/cyrus.header"));
  EXPECT_FALSE(fs::exists(t / "out/spool/uuid")) << Notes(m);
  EXPECT_TRUE(EndsWith(m["spool_path"].get<std::string>(), "/cyrus/mail")) << m["spool_path"];
  EXPECT_EQ(ReadText(t / "out/conf/mailboxes.db"), FlatMailboxesDb());
  EXPECT_EQ(ReadText(t / "out/conf/user/a/alice.sub"), "user.alice.Sent\t\n");
  EXPECT_TRUE(EndsWith(m["config_path"].get<std::string>(), "/cyrus")) << m["config_path"];
  EXPECT_EQ(Users(m), (std::set<std::string>{"alice", "bob"}));
  EXPECT_NE(Notes(m).find("partition root found inside lost directory"), std::string::npos) << Notes(m);
  EXPECT_NE(Notes(m).find("config directory found in a lost tree"), std::string::npos) << Notes(m);
}

// F3: the only user's hash directory a/user garbled: alice's INBOX is a lost directory
// and no mailbox is reachable. Its Sent folder nested inside says "legacy"; its '..'
// (a/user, still reachable) and its name say where it hung: put back there whole.
TEST(SalvageDiscovery, LostLegacyInboxGoesBackUnderItsDotdotWithItsSubfolders) {
  TempDir t;
  StageFolder(t / (kSpool + "/a/user/alice"), "aa1111", "user.alice", {"alice one\r\n"});
  StageFolder(t / (kSpool + "/a/user/alice/Sent"), "as3333", "user.alice.Sent", {"sent one\r\n"});
  WriteText(t / (kSpool + "/a/user/alice/Sent/notes.txt"), "not a message");
  StageConf(t / kConf);
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "zap_block -f /var/spool/cyrus/mail/a/user -p 0xa5 0", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["spool_path"], "/var/spool/cyrus/mail") << Notes(m);
  EXPECT_EQ(ReadText(t / "out/spool/a/user/alice/1."), "alice one\r\n") << Notes(m);
  EXPECT_EQ(ReadText(t / "out/spool/a/user/alice/Sent/1."), "sent one\r\n");
  EXPECT_EQ(ReadText(t / "out/spool/a/user/alice/Sent/notes.txt"), "not a message");
  EXPECT_FALSE(fs::exists(t / "out/spool/uuid"));
  EXPECT_EQ(m["totals"]["lost_found"], 0);
  EXPECT_EQ(Users(m), (std::set<std::string>{"alice"}));
}

// F6: the config directory's inode cleared (and its name removed). Its mailboxes.db is
// a lost file recognised by its records, its user/ and quota/ lost directories by their
// contents and their common '..': together they are DIR/conf, each with a note.
TEST(SalvageDiscovery, ClearedConfigDirectoryIsRebuiltFromItsLostPieces) {
  TempDir t;
  StageMailbox(t / kSpool, "aa1111", "user.alice", {"alice one\r\n"});
  StageMailbox(t / kSpool, "bb2222", "user.bob", {"bob one\r\n"});
  StageConf(t / kConf);
  WriteText(t / (kConf + "/mystery"), "mystery");
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "clri /var/lib/cyrus", true).rc, 0);
  ASSERT_EQ(Debugfs(t / "img", "unlink /var/lib/cyrus", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["spool_path"], "/var/spool/cyrus/mail");
  EXPECT_EQ(ReadText(t / "out/conf/mailboxes.db"), FlatMailboxesDb()) << Notes(m);
  EXPECT_EQ(ReadText(t / "out/conf/user/a/alice.sub"), "user.alice.Sent\t\n");
  EXPECT_EQ(ReadText(t / "out/conf/quota/a/user.alice"), "%(S %(STORAGE 10))\n");
  EXPECT_EQ(ReadText(t / "out/spool/uuid/a/a/aa1111/1."), "alice one\r\n");
  EXPECT_EQ(ReadText(t / "out/conf/annotations.db"), AnnotationsDb());
  EXPECT_NE(Notes(m).find("is a mailboxes.db"), std::string::npos) << Notes(m);
  // What cannot be told (proc/, socket/, an unknown file) stays in lost+found with a note.
  EXPECT_EQ(LostFoundContents(t / "out").count("mystery"), 1u);
}

// F6: only the file is left: a lost mailboxes.db with no config directory to join
// still becomes DIR/conf/mailboxes.db; an unrelated lost file does not.
TEST(SalvageDiscovery, LoneLostMailboxesDbBecomesConfMailboxesDb) {
  TempDir t;
  StageMailbox(t / kSpool, "aa1111", "user.alice", {"alice one\r\n"});
  WriteText(t / (kConf + "/mailboxes.db"), FlatMailboxesDb());
  WriteText(t / (kConf + "/other.txt"), "Iaa1111\tnot a record\n");
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "unlink /var/lib/cyrus/mailboxes.db", true).rc, 0);
  ASSERT_EQ(Debugfs(t / "img", "unlink /var/lib/cyrus/other.txt", true).rc, 0);
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(ReadText(t / "out/conf/mailboxes.db"), FlatMailboxesDb()) << Notes(m);
  EXPECT_FALSE(fs::exists(t / "out/conf/other.txt"));
  EXPECT_EQ(LostFoundContents(t / "out").count("Iaa1111\tnot a record\n"), 1u);
}

// F6: mailboxes.db removed (debugfs rm: its inode freed, nothing to find). The config
// directory is still found by its other contents, so its per-user files are salvaged.
TEST(SalvageDiscovery, ConfigDirectoryWithoutMailboxesDbIsFoundByItsOtherContents) {
  TempDir t;
  StageMailbox(t / kSpool, "aa1111", "user.alice", {"alice one\r\n"});
  StageConf(t / kConf);
  WriteText(t / "stage/var/lib/other/user/readme", "not a config dir");
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "rm /var/lib/cyrus/mailboxes.db", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  EXPECT_EQ(m["config_path"], "/var/lib/cyrus") << r.out;
  EXPECT_EQ(ReadText(t / "out/conf/user/a/alice.sub"), "user.alice.Sent\t\n");
  EXPECT_FALSE(fs::exists(t / "out/conf/mailboxes.db"));
}

// F5: a small legacy folder's one directory block garbled. Its cyrus.header names the
// mailbox (-> its legacy path, the directory still there with an empty listing), its
// cyrus.index carries the header's CRC32, its cyrus.cache the index's generation and
// per-record CRC32s, its messages their GUIDs: all go back. A lost file none of that
// vouches for stays in lost+found.
TEST(SalvageDiscovery, LegacyFolderWithGarbledDirectoryBlockGetsItsFilesBack) {
  TempDir t;
  StageLegacySpool(t / kSpool);
  const std::string archive = t / (kSpool + "/a/user/alice/Archive");
  StageFolder(archive, "ar4444", "user.alice.Archive", {"arch one\r\n", "arch two\r\n", "arch three\r\n"}, 9);
  WriteText(archive + "/stray", "a file nothing names");
  StageConf(t / kConf);
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "zap_block -f /var/spool/cyrus/mail/a/user/alice/Archive -p 0xa5 0", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  const std::string out = t / "out/spool/a/user/alice/Archive/";
  TempDir ref;
  StageFolder(ref.path(), "ar4444", "user.alice.Archive", {"arch one\r\n", "arch two\r\n", "arch three\r\n"}, 9);
  for (const char* f : {"cyrus.header", "cyrus.index", "cyrus.cache"})
    EXPECT_EQ(ReadText(out + f), ReadText(ref / f)) << f << "\n" << Notes(m);
  EXPECT_EQ(ReadText(out + "1."), "arch one\r\n");
  EXPECT_EQ(ReadText(out + "2."), "arch two\r\n");
  EXPECT_EQ(ReadText(out + "3."), "arch three\r\n");
  EXPECT_EQ(m["totals"]["lost_found"], 1) << m["lost_found"].dump();
  EXPECT_EQ(LostFoundContents(t / "out").count("a file nothing names"), 1u);
  EXPECT_NE(Notes(m).find("lost cyrus.cache inode"), std::string::npos) << Notes(m);
}

// F5: a message hard-linked into the garbled folder from another one (single-instance
// store) is not a lost inode (its other name reaches it): its inode has more links than
// names found and its SHA1 is the GUID the folder's index gives the uid, so it is linked
// back under that uid.
TEST(SalvageDiscovery, HardLinkedMessageOfAGarbledFolderIsLinkedBack) {
  TempDir t;
  StageLegacySpool(t / kSpool);
  const std::string archive = t / (kSpool + "/a/user/alice/Archive");
  StageFolder(archive, "ar4444", "user.alice.Archive", {"arch one\r\n", "alice one\r\n"});
  fs::remove(archive + "/2.");
  fs::create_hard_link(t / (kSpool + "/a/user/alice/1."), archive + "/2.");
  StageConf(t / kConf);
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "zap_block -f /var/spool/cyrus/mail/a/user/alice/Archive -p 0xa5 0", true).rc, 0);
  const std::string before = Sha256(t / "img");
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(Sha256(t / "img"), before);
  auto m = ReadManifest(t / "out");
  const std::string out = t / "out/spool/a/user/alice/Archive/";
  EXPECT_EQ(ReadText(out + "1."), "arch one\r\n") << Notes(m);
  EXPECT_EQ(ReadText(out + "2."), "alice one\r\n") << Notes(m);
  struct stat a {}, b {};
  ASSERT_EQ(::stat((out + "2.").c_str(), &a), 0);
  ASSERT_EQ(::stat((t / "out/spool/a/user/alice/1.").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // still one file
  EXPECT_EQ(m["totals"]["lost_found"], 0) << m["lost_found"].dump();
}

// F5: the folder's directory inode itself cleared too (nothing but its files left): the
// header's name still gives the path, the directory is made, and the rest follows.
TEST(SalvageDiscovery, LegacyFolderWhoseDirectoryIsGoneIsRemadeFromItsHeader) {
  TempDir t;
  StageLegacySpool(t / kSpool);
  StageFolder(t / (kSpool + "/b/user/bob/Lists"), "bl5555", "user.bob.Lists", {"list one\r\n", "list two\r\n"});
  StageConf(t / kConf);
  MakeImage(t / "stage", t / "img", "16M");
  ASSERT_EQ(Debugfs(t / "img", "clri /var/spool/cyrus/mail/b/user/bob/Lists", true).rc, 0);
  ASSERT_EQ(Debugfs(t / "img", "unlink /var/spool/cyrus/mail/b/user/bob/Lists", true).rc, 0);
  auto r = Salvage(t / "img", t / "out");
  EXPECT_EQ(r.rc, 1) << r.out;
  auto m = ReadManifest(t / "out");
  const std::string out = t / "out/spool/b/user/bob/Lists/";
  EXPECT_TRUE(fs::exists(out + "cyrus.header")) << Notes(m);
  EXPECT_TRUE(fs::exists(out + "cyrus.index"));
  EXPECT_TRUE(fs::exists(out + "cyrus.cache"));
  EXPECT_EQ(ReadText(out + "1."), "list one\r\n");
  EXPECT_EQ(ReadText(out + "2."), "list two\r\n");
  EXPECT_EQ(m["totals"]["lost_found"], 0) << m["lost_found"].dump();
}

}  // namespace
}  // namespace mr::salvage
