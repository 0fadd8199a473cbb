// GNU ddrescue mapfile → the byte ranges of a source that must never be read.
//
// A mapfile lists (pos, size, status) blocks; every status other than '+'
// (finished) means "not read successfully" ('?' non-tried, '*' non-trimmed,
// '/' non-scraped, '-' bad sector), so salvage treats it as unreadable.
// Parse() validates every line and fails with "badmap FILE line N: ..." on
// anything malformed. Immutable after construction; thread-safe to query.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};

class BadMap {
 public:
  BadMap() = default;
  static Result<BadMap> Parse(std::string_view text, const std::string& what);
  static Result<BadMap> Load(const std::string& path);

  bool empty() const { return bad_.empty(); }
  const std::vector<ByteRange>& ranges() const { return bad_; }
  // The bad ranges overlapping [offset, offset+length), clipped to it, in order.
  std::vector<ByteRange> Overlaps(std::uint64_t offset, std::uint64_t length) const;

 private:
  std::vector<ByteRange> bad_;  // sorted, merged, non-empty
};

// Sorts and merges overlapping/adjacent ranges in place.
void MergeRanges(std::vector<ByteRange>* ranges);

}  // namespace mr::salvage
