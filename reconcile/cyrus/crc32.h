// CRC32 as Cyrus computes it (zlib's crc32), used by cyrus.index, cyrus.cache,
// twoskip and sync_crc.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace mr::cyrus {

std::uint32_t Crc32(std::span<const std::uint8_t> data);
std::uint32_t Crc32(std::string_view data);
// Continues a running CRC (start with 0).
std::uint32_t Crc32Update(std::uint32_t crc, const void* data, std::size_t len);

}  // namespace mr::cyrus
