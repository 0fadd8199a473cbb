// verify_folder: the checks of one mailbox directory against the db's view
// of it (cyrus.header, cyrus.index, cyrus.cache, message files, strays).
//
// Contract: VerifyFolder never fails; every finding is one line
// "<name>: <what>" or "<name>: uid <n>: <what>" appended to
// FolderVerdict::problems in a fixed order (header, index header, records by
// uid, stray files by uid), independent of threading. It reads only this
// folder: memory is one index + one cache file; message files are streamed
// through SHA1 (in parallel with TBB when the folder is big).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mr::verify {

// What mailboxes.db says about a mailbox (its N record).
struct FolderSpec {
  std::string name;      // internal name, user.bob.Sent
  std::string uniqueid;
  std::uint32_t uidvalidity = 0;
  std::string mbtype;    // "e", "el", ...
  std::vector<std::pair<std::string, std::string>> acl;  // (identifier, rights)
  // Octets of the mailbox's annotations in the config annotations.db (they
  // count in quota_annot_used); nullopt = that db was not read, not checked.
  std::optional<std::uint64_t> mailbox_annot_bytes;
};

struct FolderLayout {
  std::string spool;  // partition root
  bool hashimapspool = true;
  bool fulldirhash = false;
  std::string conf;  // config directory: quota roots named by headers must be there; "" = not checked
};

struct FolderVerdict {
  std::vector<std::string> problems;
  std::uint64_t messages = 0;  // live records
  std::uint64_t bytes = 0;     // bytes of live message files hashed
};

// Directory of the mailbox relative to the spool root, by its mbtype.
std::string FolderRelDir(const FolderSpec& spec, const FolderLayout& layout);

FolderVerdict VerifyFolder(const FolderSpec& spec, const FolderLayout& layout,
                           bool skip_messages);

// Canonical form of an ACL for comparison: sorted by identifier, rights as
// given ("bob lrs anyone p").
std::string AclString(std::vector<std::pair<std::string, std::string>> acl);

}  // namespace mr::verify
