// Cyrus twoskip database files (lib/cyrusdb_twoskip.c format, version 1): the default
// backend of mailboxes.db and cyrus.annotations.
//
// Layout we rely on (all integers big-endian): a 64-byte header (magic, version,
// generation, num_records, repack_size, current_size, flags, CRC32 of bytes 0-59), then
// 8-byte aligned records: type ('=' dummy, '+' record, '-' delete, '$' commit), level,
// keylen (u16, 0xFFFF = u64 follows), vallen (u32, 0xFFFFFFFF = u64 follows),
// (level+1) u64 forward pointers, CRC32 of the head, CRC32 of key+value+padding,
// key, value, zero padding. Level-0 has two pointer slots (ptr[0], ptr[1]); the live one
// is the larger one below current_size. An 8-byte " BLANK\x07\xa0" pad may precede a
// record so that its head does not straddle a 512-byte block.
//
// Contract:
// - ReadTwoskip never crashes, hangs or allocates from an unchecked length. It walks the
//   level-0 chain from the dummy record up to the committed size (current_size, or the end
//   of the last intact commit record when the header is unusable, or the whole file when
//   neither survives); if the chain is damaged
//   (bad CRC, pointer out of range, cycle) it notes a problem and instead scans the file
//   linearly for records whose CRCs check, keeping committed ones, the newest version of
//   each key, and dropping records no live record links to any more after a later
//   delete. Records whose value CRC fails are dropped
//   with a problem. Returns pairs sorted by raw byte order (memcmp, shorter first).
//   Error only when the input is too short to hold a header.
// - WriteTwoskip produces one committed transaction, like a Cyrus checkpoint (repack):
//   dummy, records in key order, commit record. Levels are derived from a hash of the key,
//   so the output is a pure function of the input. Input is sorted and de-duplicated
//   (last value wins) if it is not already; empty keys (Cyrus cannot store them) are
//   dropped. WriteTwoskipSorted is the same for input already sorted and unique (REQUIRES:
//   strictly ascending raw byte order, no empty key) given as views, so a caller that keeps
//   its records encoded (cyrus/mboxdb_image) writes them without copying them first.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mr::cyrus {

using KvPairs = std::vector<std::pair<std::string, std::string>>;
using KvView = std::pair<std::string_view, std::string_view>;

// True if `file` starts with the twoskip magic.
bool IsTwoskip(std::span<const std::uint8_t> file);

Result<KvPairs> ReadTwoskip(std::span<const std::uint8_t> file,
                            std::vector<std::string>* problems);

std::vector<std::uint8_t> WriteTwoskip(const KvPairs& sorted_kv);
std::vector<std::uint8_t> WriteTwoskipSorted(std::span<const KvView> kv);

}  // namespace mr::cyrus
