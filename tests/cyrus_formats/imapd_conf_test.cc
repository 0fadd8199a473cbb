// imapd.conf reading.
#include <gtest/gtest.h>

#include "reconcile/cyrus/imapd_conf.h"

using namespace mr::cyrus;

namespace {

TEST(ImapdConf, ReadsLocationAndLayoutSwitches) {
  auto c = ParseImapdConf(
      "# comment\n"
      "configdirectory: /var/lib/cyrus\n"
      "\n"
      "defaultpartition: main\n"
      "partition-main: /var/spool/cyrus/mail\n"
      "Partition-Other:   /srv/other  \n"
      "hashimapspool: true\n"
      "mailbox_legacy_dirs: yes\n"
      "fulldirhash: 0\n"
      "virtdomains: userid\n"
      "unknown_key: whatever\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->configdirectory, "/var/lib/cyrus");
  EXPECT_EQ(c->partition_default, "/var/spool/cyrus/mail");
  EXPECT_EQ(c->partitions.at("other"), "/srv/other");
  EXPECT_TRUE(c->hashimapspool);
  EXPECT_TRUE(c->legacy_dirs);
  EXPECT_FALSE(c->fulldirhash);
  EXPECT_TRUE(c->virtdomains);
}

TEST(ImapdConf, MailboxesDbBackendAndPath) {
  auto d = ParseImapdConf("configdirectory: /var/lib/cyrus\n");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->mboxlist_db, "twoskip");
  EXPECT_EQ(d->MailboxesDbPath(), "/var/lib/cyrus/mailboxes.db");
  auto c = ParseImapdConf(
      "configdirectory: /var/lib/cyrus\n"
      "mboxlist_db: Flat\n"
      "mboxlist_db_path: /srv/db/mboxes.flat\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->mboxlist_db, "flat");
  EXPECT_EQ(c->MailboxesDbPath(), "/srv/db/mboxes.flat");
}

TEST(ImapdConf, ErrorsNameTheProblem) {
  auto a = ParseImapdConf("partition-default: /x\n");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("configdirectory"), std::string::npos);
  auto b = ParseImapdConf("configdirectory: /c\nhashimapspool: maybe\n");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("line 2"), std::string::npos);
  auto c = ParseImapdConf("configdirectory /c\n");
  ASSERT_FALSE(c.ok());
  auto d = ReadImapdConf("/nonexistent/imapd.conf");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("/nonexistent/imapd.conf"), std::string::npos);
}

}  // namespace
