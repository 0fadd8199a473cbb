// cyrus_meta: the minimum of Cyrus's per-folder metadata that salvage needs to
// put lost things back (salvage must not depend on reconcile/).
//
// - cyrus.header: the mailbox's internal name and uniqueid, from the 3.6 dlist
//   line (`%(T e N <name> I <uniqueid> ...)`: only the N and I values) or the
//   pre-3.6 form (line 1 `quotaroot TAB uniqueid`; no name in the file).
// - cyrus.index: (uid, GUID) of every record (header: start_offset at 12,
//   record_size at 16, num_records at 20; record: uid at 0, GUID at 60;
//   big-endian). Counts are bounded by the buffer, never trusted.
// Pure; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

struct CyrusHeaderInfo {
  std::string name;      // internal name; "" in pre-3.6 headers
  std::string uniqueid;
};

Result<CyrusHeaderInfo> ParseCyrusHeader(std::span<const std::uint8_t> data);

struct IndexRecordKey {
  std::uint32_t uid = 0;
  std::array<std::uint8_t, 20> guid{};
};

Result<std::vector<IndexRecordKey>> ParseIndexGuids(std::span<const std::uint8_t> data);

// What a cyrus.index says about its cyrus.cache: the generation number the
// cache file starts with, and (offset, CRC32) of up to `max` records' cache
// entries (cache_offset and cache_crc by minor version 12-17). Records with
// cache_offset 0 are skipped.
struct IndexCacheRefs {
  std::uint32_t generation = 0;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> records;
};
Result<IndexCacheRefs> ParseIndexCacheRefs(std::span<const std::uint8_t> data, std::size_t max = 32);

// Whether `cache` is the cyrus.cache of the index `refs` came from: it starts
// with the same generation and every listed record (10 items of u32 length +
// data padded to 4) has the CRC32 the index recorded. False when no record
// can be checked: a generation alone is no evidence.
bool CacheMatchesIndex(std::span<const std::uint8_t> cache, const IndexCacheRefs& refs);

// How many mailbox records (N/I values `%(T <type> I ...` / `%(T <type> N ...`)
// the first bytes of a file hold when it is a mailboxes.db: twoskip or
// skiplist (by magic) or flat (`key TAB %(...` lines); 0 for anything else
// (a cyrus.header's dlist is not counted).
std::size_t CountMailboxesDbRecords(std::span<const std::uint8_t> data);

// How many keys of a twoskip/skiplist file are mailbox annotations
// (`<mailbox> NUL /<entry> NUL <userid>`, annotations.db) whose mailbox part
// `known` accepts (a uniqueid or name salvage has seen); 0 when the file is
// not twoskip/skiplist.
std::size_t CountAnnotationsDbKeys(std::span<const std::uint8_t> data,
                                   const std::set<std::string, std::less<>>& known);

// Whether the file starts with the twoskip or skiplist magic.
bool IsSkipDb(std::span<const std::uint8_t> data);

}  // namespace mr::salvage
