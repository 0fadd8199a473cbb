// Facts Cyrus derives from a message file for its index record: size,
// header_size, sentdate, gmtime and the GUID (SHA1 of the file bytes).
//
// As Cyrus 3.6 does (imap/message.c, lib/times.c time_from_rfc5322):
//  - header_size: bytes up to and including the first empty CRLF line (a
//    bare LF empty line does not end the header); the whole file if none.
//  - the LAST Date: header counts; its value is unfolded and parsed;
//  - gmtime: the full date-time as UTC seconds (zone applied);
//  - sentdate: the date part only, at 00:00 of that day. Cyrus uses the
//    server's local time zone (mktime) for this; we use UTC, which is what
//    a server running in UTC stores (see docs/formats.md);
//  - an unparsable or missing Date: gives 0 (each of sentdate, gmtime) --
//    but when Cyrus appends the record it then substitutes the
//    INTERNALDATE: gmtime = internaldate, sentdate = 00:00 of its day
//    (imap/mailbox.c mailbox_append_index_record). ParseMessage does the same
//    when given a non-zero internaldate; ParseMessageFile takes it from the
//    file's mtime (Cyrus keeps INTERNALDATE there).
// Contract: ParseMessage is total. ParseMessageFile returns an Error only
// when the file cannot be read. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/sha1.h"
#include "common/status.h"

namespace mr::cyrus {

struct MessageFacts {
  std::uint64_t size = 0;
  std::uint32_t header_size = 0;  // bytes up to and including the blank line
  std::int64_t sentdate = 0;
  std::int64_t gmtime = 0;
  mr::Digest guid{};
  std::int64_t internaldate = 0;  // as given / the file's mtime
};

MessageFacts ParseMessage(std::span<const std::uint8_t> message,
                          std::int64_t internaldate = 0);
// Size cap for ParseMessageFile (a larger file is an Error, never an allocation).
inline constexpr std::uint64_t kMaxMessageFileSize = 1ull << 31;
Result<MessageFacts> ParseMessageFile(const std::string& path);

// time_from_rfc5322 as Cyrus does it: seconds, or -1 when it does not parse.
// date_only: ignore time and zone, 00:00 UTC of that day.
std::int64_t ParseRfc5322Date(std::string_view value, bool date_only);

}  // namespace mr::cyrus
