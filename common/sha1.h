// SHA1 (Cyrus message GUIDs) over buffers, streams and files, via OpenSSL.
// Thread-safe: each Sha1 object is independent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mr {

using Digest = std::array<std::uint8_t, 20>;

class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  void Update(const void* data, std::size_t len);
  void Update(std::span<const std::uint8_t> s) { Update(s.data(), s.size()); }
  // The digest of everything since construction or the last Final(); the
  // object is then ready for the next message (reuse it: no allocation).
  Digest Final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Digest Sha1Of(std::span<const std::uint8_t> data);
Digest Sha1Of(std::string_view data);
// Hashes a whole file; also returns its size through *size when non-null.
Result<Digest> Sha1File(const std::string& path, std::uint64_t* size = nullptr);
// Same, for an already open file descriptor (read from offset 0 with pread).
Result<Digest> Sha1Fd(int fd, std::uint64_t* size = nullptr);

std::string ToHex(std::span<const std::uint8_t> bytes);
std::string ToHex(const Digest& d);
// Parses 40 hex chars; returns false on anything else.
bool FromHex(std::string_view hex, Digest* out);
bool IsZero(const Digest& d);

}  // namespace mr
