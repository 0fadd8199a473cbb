// mboxdb_image: encoded mailboxes.db records kept between writes; see mboxdb_image.h.
#include "reconcile/cyrus/mboxdb_image.h"

#include <string_view>
#include <utility>

#include "common/fsutil.h"
#include "reconcile/cyrus/flatdb.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::cyrus {

Status MboxDbImage::Put(MboxEntry e) {
  if (e.name.empty()) return Error{Code::kInvalidArgument, "mailboxes.db: empty mailbox name"};
  Erase(e.name);
  std::string nkey = "N" + DbKeyFromInternal(e.name);
  std::string ikey = e.uniqueid.empty() ? std::string() : "I" + e.uniqueid;
  const std::string name = e.name;
  entries_.emplace(name, std::move(e));
  n_[nkey].names.insert(name);
  RefreshN(nkey);
  if (!ikey.empty()) {
    i_[ikey].names.insert(name);
    RefreshI(ikey);
  }
  return Status::Ok();
}

void MboxDbImage::Erase(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  std::string nkey = "N" + DbKeyFromInternal(name);
  std::string ikey = it->second.uniqueid.empty() ? std::string() : "I" + it->second.uniqueid;
  entries_.erase(it);
  if (auto n = n_.find(nkey); n != n_.end()) {
    n->second.names.erase(name);
    if (n->second.names.empty()) n_.erase(n);
    else RefreshN(nkey);
  }
  if (ikey.empty()) return;
  if (auto i = i_.find(ikey); i != i_.end()) {
    i->second.names.erase(name);
    if (i->second.names.empty()) i_.erase(i);
    else RefreshI(ikey);
  }
}

void MboxDbImage::Clear() {
  entries_.clear();
  n_.clear();
  i_.clear();
}

// Several names with one db key: the last in name order wins, as in MailboxesDbRecords.
void MboxDbImage::RefreshN(const std::string& key) {
  Derived& d = n_.at(key);
  d.value = NRecordValue(entries_.at(*d.names.rbegin()));
}

void MboxDbImage::RefreshI(const std::string& key) {
  Derived& d = i_.at(key);
  const MboxEntry* from = nullptr;
  for (const std::string& name : d.names) {
    const MboxEntry& e = entries_.at(name);
    if (!from || GivesIRecordOver(e, *from)) from = &e;
  }
  d.value = IRecordValue(*from);
}

std::vector<std::uint8_t> MboxDbImage::Bytes(DbFormat format) const {
  // Every I key sorts before every N key ('I' < 'N'); each map is in raw byte order.
  std::vector<KvView> kv;
  kv.reserve(i_.size() + n_.size());
  for (const auto& [k, d] : i_) kv.emplace_back(k, d.value);
  for (const auto& [k, d] : n_) kv.emplace_back(k, d.value);
  if (format == DbFormat::kTwoskip) return WriteTwoskipSorted(kv);
  KvPairs pairs;
  pairs.reserve(kv.size());
  for (const auto& [k, v] : kv) pairs.emplace_back(std::string(k), std::string(v));
  return WriteFlat(pairs);
}

Status MboxDbImage::Write(const std::string& path, DbFormat format, bool do_fsync) const {
  return WriteFileAtomic(path, Bytes(format), do_fsync);
}

}  // namespace mr::cyrus
