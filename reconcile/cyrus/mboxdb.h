// mailboxes.db as Cyrus 3.6 keeps it: one `N<dbname>` record per mailbox name and one
// `I<uniqueid>` record per mailbox id, values are dlists; backend twoskip or flat.
//
// Names: our code uses Cyrus internal names (`user.bob.Sent`, `^` for a dot inside a
// part, `example.com!user.bob` with virtual domains). The database name joins the parts
// with \x1F, turns `^` back into `.`, and puts a domain first followed by \x1D
// (`user\x1Fbob\x1FSent`, `example.com\x1Duser\x1Fbob`). Only this module converts.
//
// Record values written (field order as Cyrus 3.6 writes them; S/V/C/F only when set):
//   N: %(T <type> I <uniqueid> P <partition> S <server> V <uidvalidity> C <createdmodseq>
//        F <foldermodseq> M <mtime> A %(<id> <rights> ...))
//   I: %(T <type> N <dbname> P ... S ... V ... C ... F ... M ... A %(...) H (<history>))
// An empty partition leaves out P. A tombstone (`d` in the type) with no partition and
// no ACL also leaves out A: that is how Cyrus 3.6 writes the tombstone an IMAP DELETE
// leaves behind (`%(T ed I <id> V .. C .. F .. M ..)`); build tombstones that way.
//
// Contract:
// - ReadMailboxesDb auto-detects twoskip (magic) or flat, joins N and I records by
//   uniqueid, keeps tombstones (`d` in mbtype), tolerates missing I records, and makes an
//   entry from an I record whose N record is gone (noted as a problem). Unparseable values
//   and unknown keys are skipped with a one-line problem; twoskip damage recovery as in
//   twoskip.h. Entries come back sorted by internal name. Error only if the file cannot
//   be read or is not a database at all.
// - WriteMailboxesDb writes to a temp file, fsyncs and renames over `path`. Two entries
//   with the same uniqueid (a tombstone and a DELETED.* copy) share one I record, taken
//   from the entry that is not deleted. Output is a pure function of the entries.
// - Thread-compatible; no global state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "reconcile/cyrus/dlist.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::cyrus {

enum class DbFormat { kTwoskip, kFlat };

struct MboxEntry {
  std::string name;  // internal name, e.g. user.bob.Sent
  std::string uniqueid;
  std::string partition = "default";
  std::string mbtype = "e";  // type letter then flags: "e", "el", "ed", "ei"
  std::uint32_t uidvalidity = 0;
  std::uint64_t createdmodseq = 0, foldermodseq = 0;
  std::int64_t mtime = 0;
  std::vector<std::pair<std::string, std::string>> acl;  // identifier, rights; in order
  std::string server;
  std::vector<Dlist> history;  // the I record's H list items, kept as parsed

  bool deleted() const { return mbtype.find('d') != std::string::npos; }
  friend bool operator==(const MboxEntry&, const MboxEntry&) = default;
};

std::string DbKeyFromInternal(std::string_view internal);
std::string InternalFromDbKey(std::string_view dbname);

// The N and I records for `entries`, sorted by key (raw byte order).
KvPairs MailboxesDbRecords(const std::vector<MboxEntry>& entries);
// The pieces it is made of: the value of an entry's N record (key "N" + its db name), of
// the I record it would give (key "I" + uniqueid), and which of two entries sharing a
// uniqueid gives the I record (entries taken in name order, `candidate` the later one).
std::string NRecordValue(const MboxEntry& e);
std::string IRecordValue(const MboxEntry& e);
bool GivesIRecordOver(const MboxEntry& candidate, const MboxEntry& current);
// Joins N and I records into entries (see ReadMailboxesDb).
std::vector<MboxEntry> EntriesFromRecords(const KvPairs& records,
                                          std::vector<std::string>* problems);

const char* DbFormatName(DbFormat f);
// An imapd.conf `mboxlist_db` backend name -> format; kUnsupported for the
// backends we cannot write (skiplist, lmdb, sql, ...).
Result<DbFormat> DbFormatFromBackend(std::string_view backend);
// The format of an existing database file, from its first bytes (twoskip
// magic, else flat). Errors: cannot read; skiplist (kUnsupported).
Result<DbFormat> DetectDbFormat(const std::string& path);

Result<std::vector<MboxEntry>> ReadMailboxesDb(const std::string& path,
                                               std::vector<std::string>* problems = nullptr);
Status WriteMailboxesDb(const std::string& path, std::vector<MboxEntry> entries,
                        DbFormat format);

}  // namespace mr::cyrus
