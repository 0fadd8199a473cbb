// Read-only memory map of a whole file (RAII), for cyrus.cache files that can
// be hundreds of megabytes: pages are read on demand and can be released
// with Release() once a range has been consumed, so resident memory follows
// the window in use, not the file size. Empty files map to an empty span.
// Not thread-safe per object (Release); concurrent reads are fine.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace mr::reconcile {

class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  // Drops resident pages of [0, upto) (they are re-read if touched again).
  void Release(std::uint64_t upto);

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t released_ = 0;
};

}  // namespace mr::reconcile
