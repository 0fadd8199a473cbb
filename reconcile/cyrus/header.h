// cyrus.header: parse (3.6 dlist form and pre-3.6 tab form) and serialize
// (3.6 form, byte-identical to what Cyrus 3.6 writes for the same content).
//
// Cyrus writes the U (user flag names) list only up to the first gap
// (flag i with no name): names after a gap are dropped, and their bits then
// mean nothing. SerializeHeader does the same, so callers that may have gaps
// should first call CompactUserFlags (index.h), which renumbers the records'
// bits.
//
// Contract: ParseHeader returns an Error naming the problem for a bad magic,
// a truncated file or an unparsable body. SerializeHeader is total. The
// cyrus.index header stores Crc32 of the exact cyrus.header bytes
// (IndexHeader::header_file_crc). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mr::cyrus {

// The fixed first bytes of every cyrus.header.
extern const std::string_view kHeaderMagic;

struct MailboxHeader {
  std::string type = "e"; // T: mbtype letters ("e" email; "el" = legacy dirs)
  std::string name;       // internal, e.g. user.bob.Sent (pre-3.6 files: "")
  std::string uniqueid;
  std::string quotaroot;  // "" = none
  std::vector<std::pair<std::string, std::string>> acl;  // (identifier, rights) in file order
  std::vector<std::string> user_flags;  // index = bit; "" = gap
};

Result<MailboxHeader> ParseHeader(std::span<const std::uint8_t> bytes);
Result<MailboxHeader> ReadHeaderFile(const std::string& path);
std::string SerializeHeader(const MailboxHeader& h);

// The ACL as Cyrus's flat string "id\trights\t..." (mailboxes.db / dump form).
std::string AclString(const MailboxHeader& h);

}  // namespace mr::cyrus
