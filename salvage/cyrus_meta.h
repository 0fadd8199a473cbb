// cyrus_meta: the minimum of Cyrus's per-folder metadata that salvage needs to
// put lost things back (salvage must not depend on reconcile/).
//
// - cyrus.header: the mailbox's internal name and uniqueid, from the 3.6 dlist
//   line (`%(T e N <name> I <uniqueid> ...)`: only the N and I values) or the
//   pre-3.6 form (line 1 `quotaroot TAB uniqueid`; no name in the file).
// - cyrus.index: (uid, GUID) of every record (header: start_offset at 12,
//   record_size at 16, num_records at 20; record: uid at 0, GUID at 60;
//   big-endian). Counts are bounded by the buffer, never trusted.
// Pure; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

struct CyrusHeaderInfo {
  std::string name;      // internal name; "" in pre-3.6 headers
  std::string uniqueid;
};

Result<CyrusHeaderInfo> ParseCyrusHeader(std::span<const std::uint8_t> data);

struct IndexRecordKey {
  std::uint32_t uid = 0;
  std::array<std::uint8_t, 20> guid{};
};

Result<std::vector<IndexRecordKey>> ParseIndexGuids(std::span<const std::uint8_t> data);

}  // namespace mr::salvage
