// Cyrus "flat" database files (lib/cyrusdb_flat.c): one record per line,
// `key TAB value LF`, the alternative text backend for mailboxes.db.
//
// Contract:
// - Escaping as Cyrus does it: bytes \0 \t \r \n are written as 0xFF followed by the byte
//   ORed with 0x80, and 0xFF itself as 0xFF 0xFF; ReadFlat undoes it.
// - WriteFlat sorts lines the way Cyrus's flat backend keeps them (lib/bsearch.c mailbox
//   order over the escaped key: '.' sorts before every other byte, bytes 0x01-0x08 move up
//   by two, TAB ends the key; otherwise byte order, a prefix first). Duplicate keys: last
//   value wins. The result is byte-identical to what `cvt_cyrusdb ... flat` writes.
// - ReadFlat never fails on damaged content: a line without a TAB, or a dangling escape, is
//   skipped (or decoded best-effort) with a one-line problem; a final line without LF is
//   kept with a problem. Returns pairs sorted by raw byte order, like ReadTwoskip.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/cyrus/twoskip.h"  // KvPairs

namespace mr::cyrus {

KvPairs ReadFlat(std::span<const std::uint8_t> file, std::vector<std::string>* problems);
std::vector<std::uint8_t> WriteFlat(const KvPairs& kv);

// Cyrus's mailbox-order comparison (bsearch_ncompare_mbox) of two byte strings.
int CompareMbox(std::string_view a, std::string_view b);

}  // namespace mr::cyrus
