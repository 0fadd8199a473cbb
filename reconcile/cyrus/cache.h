// cyrus.cache: bounds-checked record access, record CRCs and a writer.
//
// File: 4-byte big-endian generation number, then records back to back. A
// record is 10 items (ENVELOPE, BODYSTRUCTURE, BODY, SECTION, HEADERS, FROM,
// TO, CC, BCC, SUBJECT), each a u32 big-endian length followed by the data
// padded with NULs to a multiple of 4. An index record points at its cache
// record by byte offset (cache_offset) and checks it with cache_crc =
// CacheRecordCrc(record bytes). A record depends only on the message, so a
// record from either side can be carried over when its CRC checks.
//
// A message with no valid cache record on either side: write its index
// record with cache_offset = 0 and cache_crc = 0 (and leave it out of
// cyrus.cache). `reconstruct -n` does not report such records (Cyrus 3.6.1);
// `reconstruct -r <mailbox>` rebuilds exactly those cache records from the
// message files ("rewrote cache for <uid>") and keeps uids, flags, modseqs
// and the sync CRCs. See docs/formats.md.
// Pure functions + a single-owner writer; not thread-safe per object.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::cyrus {

inline constexpr int kCacheItems = 10;
inline constexpr std::size_t kCacheHeaderSize = 4;

// The record starting at `offset` (all 10 items, padded), or an Error when it
// would run past the end of the file or the offset is inside the header.
Result<std::span<const std::uint8_t>> CacheRecordAt(std::span<const std::uint8_t> cache_file,
                                                     std::uint64_t offset);
std::uint32_t CacheRecordCrc(std::span<const std::uint8_t> record);

// Generation number stored in the first 4 bytes (Error if shorter).
Result<std::uint32_t> CacheGeneration(std::span<const std::uint8_t> cache_file);

// Builds a cache file in memory. Append returns the offset the index record
// must store; bytes() is the whole file so far (header included).
class CacheWriter {
 public:
  explicit CacheWriter(std::uint32_t generation);
  std::uint64_t Append(std::span<const std::uint8_t> record);
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

// Same, streaming to a file descriptor (for very large folders). Keeps only
// the current offset in memory. The caller owns and closes fd.
class CacheFdWriter {
 public:
  CacheFdWriter(int fd, std::uint32_t generation);
  Status status() const { return status_; }
  // Returns the offset, or an Error on a short/failed write.
  Result<std::uint64_t> Append(std::span<const std::uint8_t> record);
  std::uint64_t size() const { return offset_; }

 private:
  int fd_;
  std::uint64_t offset_ = 0;
  Status status_;
};

// The 10 items of a record (views into `record`), or an Error if malformed.
Result<std::vector<std::span<const std::uint8_t>>> CacheItems(
    std::span<const std::uint8_t> record);

}  // namespace mr::cyrus
