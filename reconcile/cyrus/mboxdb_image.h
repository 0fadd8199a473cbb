// mboxdb_image: a mailboxes.db held in memory as its encoded records, for a writer that
// changes a few mailboxes at a time and writes the whole file after each change (rescue
// writes the target's db once per user).
//
// Rebuilding every record from MboxEntry values on each write made a store of thousands of
// users cost O(users x db) in encoding alone. Here Put and Erase re-encode only the records
// they touch: the entry's N record, and the I record of its uniqueid (one I record per
// uniqueid, chosen among the entries sharing it exactly as MailboxesDbRecords chooses).
// Bytes() lays the kept records out (twoskip or flat); a write still copies the whole file,
// but no longer formats it.
//
// Contract: for any sequence of Put/Erase, Bytes(f) equals what WriteMailboxesDb would
// write for entries() (tests pin this, including names that map to one db key and entries
// sharing a uniqueid). Put replaces an entry of the same internal name; empty names are
// refused by Put (kInvalidArgument). Not thread-safe; one owner.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/cyrus/mboxdb.h"

namespace mr::cyrus {

class MboxDbImage {
 public:
  Status Put(MboxEntry e);
  void Erase(const std::string& name);
  void Clear();

  const std::map<std::string, MboxEntry>& entries() const { return entries_; }
  std::vector<std::uint8_t> Bytes(DbFormat format) const;
  // Bytes(format) written to a temp file and renamed over `path` (fsync as asked).
  Status Write(const std::string& path, DbFormat format, bool do_fsync = true) const;

 private:
  struct Derived {              // one record made from the entries that map to its key
    std::set<std::string> names;  // those entries, by internal name
    std::string value;
  };
  void RefreshN(const std::string& key);
  void RefreshI(const std::string& key);

  std::map<std::string, MboxEntry> entries_;  // by internal name
  std::map<std::string, Derived> n_;          // "N" + db name
  std::map<std::string, Derived> i_;          // "I" + uniqueid
};

}  // namespace mr::cyrus
