// Quota roots of one reconcile unit into the output config directory.
//
// The output folders' cyrus.header files name their quota root (`Q`); the
// root's record lives in the config directory's quota db (quota.h), which
// Cyrus must find or GETQUOTAROOT answers "Quota root does not exist".
// CarryQuotaRoots takes each named root's record from the salvaged config
// directory when the unit is there and the record reads (it is newer), else
// from the backup's — the per-side rule of the seen/sub files (userfiles.h) —
// keeps its limits and MODSEQ, sets the usage to what the output folders hold
// (QuotaRootsRequest::usage, summed from the plans) for a root inside the unit,
// and writes it at the same relative path (same hash scheme) in the output
// config directory, temp + rename. A root outside the unit (a domain's root
// "example.com!", which spans units) keeps the usage its source recorded:
// one unit cannot see the others' folders. A root with no readable record on
// either side is skipped (nothing to carry). Only the quotalegacy backend is
// written (Cyrus 3.6's default). Thread-safe for distinct units.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "reconcile/quota.h"

namespace mr::reconcile {

struct QuotaRootsRequest {
  std::string unit;  // a user or kSharedUnit
  std::string s_conf, b_conf, out_conf;
  bool s_readable = true;  // the salvaged side has this unit at all
  std::map<std::string, QuotaUsage> usage;  // root -> what the output folders under it hold
  bool set_owner = false;
  uid_t owner = 0;
  gid_t group = 0;
};

// The roots written (sorted). Errors: a write that failed.
Result<std::vector<std::string>> CarryQuotaRoots(const QuotaRootsRequest& req);

}  // namespace mr::reconcile
