// cyrus.cache record access and writers. See cache.h for the contract.
#include "reconcile/cyrus/cache.h"

#include <unistd.h>

#include <cerrno>

#include "reconcile/cyrus/crc32.h"

namespace mr::cyrus {
namespace {

std::uint32_t Get32(std::span<const std::uint8_t> b, std::size_t off) {
  return (std::uint32_t{b[off]} << 24) | (std::uint32_t{b[off + 1]} << 16) |
         (std::uint32_t{b[off + 2]} << 8) | std::uint32_t{b[off + 3]};
}

void Put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Walks the 10 items starting at `start`; returns the end offset of the
// record or an Error naming what ran past the end.
Result<std::uint64_t> RecordEnd(std::span<const std::uint8_t> buf, std::uint64_t start,
                                std::vector<std::span<const std::uint8_t>>* items) {
  std::uint64_t pos = start;
  for (int i = 0; i < kCacheItems; ++i) {
    if (pos + 4 > buf.size())
      return Error{Code::kCorrupt, "cyrus.cache: record at " + std::to_string(start) +
                                       ": item " + std::to_string(i) +
                                       " length runs past the end"};
    const std::uint64_t len = Get32(buf, static_cast<std::size_t>(pos));
    const std::uint64_t padded = (len + 3) & ~std::uint64_t{3};
    if (pos + 4 + padded > buf.size())
      return Error{Code::kCorrupt, "cyrus.cache: record at " + std::to_string(start) +
                                       ": item " + std::to_string(i) + " (" +
                                       std::to_string(len) + " bytes) runs past the end"};
    if (items) items->push_back(buf.subspan(static_cast<std::size_t>(pos + 4),
                                            static_cast<std::size_t>(len)));
    pos += 4 + padded;
  }
  return pos;
}

}  // namespace

Result<std::span<const std::uint8_t>> CacheRecordAt(std::span<const std::uint8_t> cache_file,
                                                    std::uint64_t offset) {
  if (offset < kCacheHeaderSize)
    return Error{Code::kCorrupt,
                 "cyrus.cache: record offset " + std::to_string(offset) + " is inside the header"};
  if (offset >= cache_file.size())
    return Error{Code::kCorrupt, "cyrus.cache: record offset " + std::to_string(offset) +
                                     " beyond the end (" + std::to_string(cache_file.size()) +
                                     " bytes)"};
  auto end = RecordEnd(cache_file, offset, nullptr);
  if (!end.ok()) return end.error();
  return cache_file.subspan(static_cast<std::size_t>(offset),
                            static_cast<std::size_t>(*end - offset));
}

std::uint32_t CacheRecordCrc(std::span<const std::uint8_t> record) { return Crc32(record); }

Result<std::uint32_t> CacheGeneration(std::span<const std::uint8_t> cache_file) {
  if (cache_file.size() < kCacheHeaderSize)
    return Error{Code::kCorrupt, "cyrus.cache: shorter than its 4-byte header"};
  return Get32(cache_file, 0);
}

Result<std::vector<std::span<const std::uint8_t>>> CacheItems(
    std::span<const std::uint8_t> record) {
  std::vector<std::span<const std::uint8_t>> items;
  items.reserve(kCacheItems);
  auto end = RecordEnd(record, 0, &items);
  if (!end.ok()) return end.error();
  if (*end != record.size())
    return Error{Code::kCorrupt, "cyrus.cache: record has " +
                                     std::to_string(record.size() - *end) +
                                     " trailing bytes after its 10 items"};
  return items;
}

CacheWriter::CacheWriter(std::uint32_t generation) {
  bytes_.resize(kCacheHeaderSize);
  Put32(bytes_.data(), generation);
}

std::uint64_t CacheWriter::Append(std::span<const std::uint8_t> record) {
  const std::uint64_t off = bytes_.size();
  bytes_.insert(bytes_.end(), record.begin(), record.end());
  return off;
}

namespace {
Status WriteAll(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cyrus.cache: write", errno);
    }
    if (w == 0) return Error{Code::kIoError, "cyrus.cache: write returned 0"};
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::Ok();
}
}  // namespace

CacheFdWriter::CacheFdWriter(int fd, std::uint32_t generation) : fd_(fd) {
  std::uint8_t hdr[kCacheHeaderSize];
  Put32(hdr, generation);
  status_ = WriteAll(fd_, hdr, sizeof hdr);
  if (status_.ok()) offset_ = kCacheHeaderSize;
}

Result<std::uint64_t> CacheFdWriter::Append(std::span<const std::uint8_t> record) {
  if (!status_.ok()) return status_.error();
  status_ = WriteAll(fd_, record.data(), record.size());
  if (!status_.ok()) return status_.error();
  const std::uint64_t off = offset_;
  offset_ += record.size();
  return off;
}

}  // namespace mr::cyrus
