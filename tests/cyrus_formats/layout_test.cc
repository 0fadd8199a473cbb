// Name <-> directory mapping for both Cyrus layouts.
#include <gtest/gtest.h>

#include "common/cyrus_layout.h"

using mr::CyrusLayout;

namespace {

TEST(Layout, UuidLayout) {
  EXPECT_EQ(mr::MailboxRelDir("user.bob", "lntv1u71ddcqs3cu5wvvgvo5", CyrusLayout::kUuid, true),
            "uuid/l/n/lntv1u71ddcqs3cu5wvvgvo5");
  EXPECT_EQ(mr::UniqueidFromUuidRelDir("uuid/l/n/lntv1u71ddcqs3cu5wvvgvo5/"),
            std::optional<std::string>("lntv1u71ddcqs3cu5wvvgvo5"));
  EXPECT_FALSE(mr::UniqueidFromUuidRelDir("uuid/l/x/lntv1u71ddcqs3cu5wvvgvo5"));
  EXPECT_FALSE(mr::UniqueidFromUuidRelDir("uuid/l/n/ln/extra"));
  EXPECT_FALSE(mr::UniqueidFromUuidRelDir("uuid/./../.."));
  EXPECT_FALSE(mr::UniqueidFromUuidRelDir("b/user/bob"));
}

TEST(Layout, LegacyLayout) {
  EXPECT_EQ(mr::MailboxRelDir("user.bob.Work Stuff", "", CyrusLayout::kLegacy, true),
            "b/user/bob/Work Stuff");
  EXPECT_EQ(mr::MailboxRelDir("user.fred^smith.Sent", "", CyrusLayout::kLegacy, true),
            "f/user/fred^smith/Sent");
  EXPECT_EQ(mr::MailboxRelDir("user.9lives", "", CyrusLayout::kLegacy, true), "q/user/9lives");
  EXPECT_EQ(mr::MailboxRelDir("user.Bob", "", CyrusLayout::kLegacy, true), "b/user/Bob");
  EXPECT_EQ(mr::MailboxRelDir("user.bob.Sent", "", CyrusLayout::kLegacy, false), "user/bob/Sent");
  EXPECT_EQ(mr::MailboxRelDir("user.bob", "", CyrusLayout::kLegacy, true, true), "E/user/bob");
  EXPECT_EQ(mr::MailboxRelDir("example.com!user.alice.Sent", "", CyrusLayout::kLegacy, true),
            "domain/e/example.com/a/user/alice/Sent");
  EXPECT_EQ(mr::MailboxRelDir("example.com!user.alice", "", CyrusLayout::kLegacy, true, true),
            "domain/O/example.com/L/user/alice");
  EXPECT_EQ(mr::MailboxRelDir("example.com!user.alice", "", CyrusLayout::kLegacy, false),
            "domain/example.com/user/alice");
}

TEST(Layout, LegacyReverse) {
  EXPECT_EQ(mr::MailboxFromLegacyRelDir("b/user/bob/Work Stuff", true),
            std::optional<std::string>("user.bob.Work Stuff"));
  EXPECT_EQ(mr::MailboxFromLegacyRelDir("user/bob", false), std::optional<std::string>("user.bob"));
  EXPECT_EQ(mr::MailboxFromLegacyRelDir("E/user/bob/", true, true),
            std::optional<std::string>("user.bob"));
  EXPECT_EQ(mr::MailboxFromLegacyRelDir("domain/e/example.com/a/user/alice/Sent", true),
            std::optional<std::string>("example.com!user.alice.Sent"));
  EXPECT_EQ(mr::MailboxFromLegacyRelDir("domain/example.com/user/alice", false),
            std::optional<std::string>("example.com!user.alice"));
  EXPECT_FALSE(mr::MailboxFromLegacyRelDir("x/user/bob", true));       // wrong hash letter
  EXPECT_FALSE(mr::MailboxFromLegacyRelDir("b/user", true));           // no user
  EXPECT_FALSE(mr::MailboxFromLegacyRelDir("b/user/bob/../etc", true));
  EXPECT_FALSE(mr::MailboxFromLegacyRelDir("b/user/bo.b", true));
  EXPECT_FALSE(mr::MailboxFromLegacyRelDir("", true));
  EXPECT_FALSE(mr::MailboxFromLegacyRelDir("domain/q/example.com/a/user/alice", true));
}

TEST(Layout, UserAndFolderNames) {
  EXPECT_EQ(mr::UserOf("user.bob.Sent"), "bob");
  EXPECT_EQ(mr::UserOf("user.fred^smith"), "fred^smith");
  EXPECT_EQ(mr::UserOf("example.com!user.bob"), "bob@example.com");
  EXPECT_EQ(mr::UserOf("shared.folder"), "");
  EXPECT_EQ(mr::UserOf("user."), "");
  EXPECT_EQ(mr::FolderOf("user.bob"), "INBOX");
  EXPECT_EQ(mr::FolderOf("user.bob.Sent.2024"), "INBOX.Sent.2024");
  EXPECT_EQ(mr::FolderOf("other.bob"), "");
  EXPECT_EQ(mr::InternalName("bob", "INBOX"), "user.bob");
  EXPECT_EQ(mr::InternalName("bob", "INBOX.Work Stuff"), "user.bob.Work Stuff");
  EXPECT_EQ(mr::InternalName("bob@example.com", "INBOX.Sent"), "example.com!user.bob.Sent");
  for (const char* n : {"user.bob", "user.bob.A.B", "example.com!user.x.Y"})
    EXPECT_EQ(mr::InternalName(mr::UserOf(n), mr::FolderOf(n)), n);
}

TEST(Layout, UnitOfGroupsEveryNonUserMailbox) {
  EXPECT_EQ(mr::UnitOf("user.bob.Sent"), "bob");
  EXPECT_EQ(mr::UnitOf("example.com!user.bob"), "bob@example.com");
  EXPECT_EQ(mr::UnitOf("shared.announcements.sub"), mr::kSharedUnit);
  EXPECT_EQ(mr::UnitOf("Public"), mr::kSharedUnit);
  EXPECT_EQ(mr::UnitOf("example.com!shared"), mr::kSharedUnit);
  EXPECT_EQ(mr::UnitOf("DELETED.shared.x.5F1A2B3C"), "");
  EXPECT_EQ(mr::UnitOf("DELETED.user.bob.Sent.5F1A2B3C"), "");
  EXPECT_EQ(mr::UnitOf("example.com!DELETED.user.bob.5F1A2B3C"), "");
  EXPECT_EQ(mr::UnitOf(""), "");
}

TEST(Layout, SharedMailboxesInTheLegacyLayout) {
  // As Cyrus 3.6 lays them out (mailbox_legacy_dirs, hashimapspool): the hash
  // letter comes from the second name part, or the only one.
  EXPECT_EQ(mr::MailboxRelDir("shared", "", mr::CyrusLayout::kLegacy, true), "s/shared");
  EXPECT_EQ(mr::MailboxRelDir("shared.announcements", "", mr::CyrusLayout::kLegacy, true), "a/shared/announcements");
  EXPECT_EQ(mr::MailboxRelDir("shared.announcements.sub", "", mr::CyrusLayout::kLegacy, true),
            "a/shared/announcements/sub");
  EXPECT_EQ(mr::MailboxRelDir("Public", "", mr::CyrusLayout::kLegacy, true), "p/Public");
  EXPECT_EQ(mr::MailboxRelDir("shared.news", "", mr::CyrusLayout::kLegacy, false), "shared/news");
}

TEST(Layout, UserListEntriesNameUsersAsLoginsOrInternally) {
  EXPECT_EQ(mr::UserFromListEntry("bob"), "bob");
  EXPECT_EQ(mr::UserFromListEntry("fred.smith"), "fred^smith");
  EXPECT_EQ(mr::UserFromListEntry("fred^smith"), "fred^smith");
  EXPECT_EQ(mr::UserFromListEntry("bob@example.com"), "bob@example.com");
  EXPECT_EQ(mr::UserFromListEntry("fred.smith@example.org"), "fred^smith@example.org");
  EXPECT_EQ(mr::UserFromListEntry("fred^smith@example.org"), "fred^smith@example.org");
  EXPECT_EQ(mr::UserFromListEntry(mr::kSharedUnit), mr::kSharedUnit);
  for (const char* n : {"user.bob", "user.fred^smith", "example.org!user.fred^smith.Sent"})
    EXPECT_EQ(mr::UserFromListEntry(mr::UserOf(n)), mr::UserOf(n));
}

}  // namespace
