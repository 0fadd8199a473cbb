// Facts Cyrus derives from a message file for its index record: size,
// header_size, sentdate (Date: header, truncated to midnight UTC... see
// docs/formats.md for the exact rule), gmtime (Date: header as UTC seconds)
// and the GUID (SHA1 of the file bytes).
//
// Contract: ParseMessage is total (a message without a parsable Date: gets
// sentdate = gmtime = 0, as Cyrus stores it... see docs/formats.md).
// ParseMessageFile returns an Error only when the file cannot be read.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/sha1.h"
#include "common/status.h"

namespace mr::cyrus {

struct MessageFacts {
  std::uint64_t size = 0;
  std::uint32_t header_size = 0;  // bytes up to and including the blank line
  std::int64_t sentdate = 0;
  std::int64_t gmtime = 0;
  mr::Digest guid{};
};

MessageFacts ParseMessage(std::span<const std::uint8_t> message);
Result<MessageFacts> ParseMessageFile(const std::string& path);

}  // namespace mr::cyrus
