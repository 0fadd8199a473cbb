// Cyrus mailbox name <-> spool directory mapping (both salvage/ and
// reconcile/ need it, hence common/).
//
// Internal names: parts joined by '.', a literal dot inside a part is '^'
// (user.bob.Sent, user.fred^smith). With virtual domains the user part is
// "bob@example.com" in the name we use: user.bob@example.com.Sent is not
// how Cyrus stores it internally — Cyrus uses "example.com!user.bob.Sent";
// both forms are accepted here.
//
// Layouts (per mailbox, relative to the partition root):
//  - kUuid:   uuid/<id[0]>/<id[1]>/<uniqueid>
//  - kLegacy: [domain/<dh>/<domain>/][<h>/]user/<user>[/<sub>...] where '.'
//    separators become '/', '^' is kept, and <h> is the hash letter:
//    hashimapspool -> first char of the user (lower-cased; 'q' if not a-z),
//    fulldirhash -> 'A' + (hash of the user) % 23.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mr {

enum class CyrusLayout { kUuid, kLegacy };

std::string MailboxRelDir(std::string_view internal_name, std::string_view uniqueid,
                          CyrusLayout layout, bool hashimapspool, bool fulldirhash = false);

// "user.bob.Sent" -> "bob"; "example.com!user.bob" -> "bob@example.com";
// "" when the name is not a user mailbox.
std::string UserOf(std::string_view internal_name);
// The reconcile unit a mailbox belongs to: its user (UserOf) for a user
// mailbox; kSharedUnit for any other live mailbox (shared.announcements,
// Public, example.com!shared.x): the whole non-user namespace is one unit,
// reconciled like a user; "" for a pending delayed delete (DELETED.*) or an
// empty name. '%' is a LIST wildcard Cyrus refuses in mailbox names, so the
// key never collides with a real user.
inline constexpr std::string_view kSharedUnit = "%shared";
std::string UnitOf(std::string_view internal_name);
// "user.bob.Sent" -> "INBOX.Sent", "user.bob" -> "INBOX"; "" when not a user mailbox.
std::string FolderOf(std::string_view internal_name);
// Inverse of UserOf/FolderOf: ("bob", "INBOX.Sent") -> "user.bob.Sent";
// ("bob@example.com", "INBOX") -> "example.com!user.bob".
std::string InternalName(std::string_view user, std::string_view folder);

// A user as an operator names it in a --users/--priority file -> the user name used
// everywhere else (UserOf's form). A login id's dots stand for '^' in the local part
// ("fred.smith" -> "fred^smith", "fred.smith@example.org" -> "fred^smith@example.org");
// the domain is kept as written. Internal forms pass through unchanged: a local part
// never holds a literal '.' (it is the hierarchy separator).
std::string UserFromListEntry(std::string_view entry);

// The hash directory letter Cyrus uses for `user` (without domain).
char HashDirChar(std::string_view user, bool fulldirhash);

// Reverse of the legacy layout: a directory path relative to the partition
// root ("b/user/bob/Sent", "user/bob", "domain/e/example.com/b/user/bob")
// -> internal name ("user.bob.Sent"), or nullopt when the path is not a user
// mailbox directory in that layout.
std::optional<std::string> MailboxFromLegacyRelDir(std::string_view rel_dir,
                                                   bool hashimapspool,
                                                   bool fulldirhash = false);

// "uuid/a/b/ab12..." -> "ab12..." when the path is a well-formed uuid-layout
// directory (the two hash chars match the id); nullopt otherwise.
std::optional<std::string> UniqueidFromUuidRelDir(std::string_view rel_dir);

}  // namespace mr
