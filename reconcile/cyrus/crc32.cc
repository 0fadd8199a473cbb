#include "reconcile/cyrus/crc32.h"

#include <zlib.h>

namespace mr::cyrus {

std::uint32_t Crc32Update(std::uint32_t crc, const void* data, std::size_t len) {
  return static_cast<std::uint32_t>(
      ::crc32_z(crc, static_cast<const Bytef*>(data), static_cast<z_size_t>(len)));
}

std::uint32_t Crc32(std::span<const std::uint8_t> data) { return Crc32Update(0, data.data(), data.size()); }

std::uint32_t Crc32(std::string_view data) { return Crc32Update(0, data.data(), data.size()); }

}  // namespace mr::cyrus
