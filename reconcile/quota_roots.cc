// Quota roots into the output config directory. See quota_roots.h.
#include "reconcile/quota_roots.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"

namespace mr::reconcile {
namespace {

struct Source {
  std::string rel;
  QuotaRecord record;
};

std::optional<Source> Read(const std::string& conf, const std::string& root) {
  if (conf.empty()) return std::nullopt;
  auto rel = FindQuotaFile(conf, root);
  if (!rel) return std::nullopt;
  auto bytes = ReadFile(conf + "/" + *rel, 1 << 20);
  if (!bytes) return std::nullopt;
  auto q = ParseQuotaRecord(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!q) return std::nullopt;
  return Source{std::move(*rel), std::move(*q)};
}

}  // namespace

Result<std::vector<std::string>> CarryQuotaRoots(const QuotaRootsRequest& req) {
  std::vector<std::string> written;
  for (const auto& [root, usage] : req.usage) {
    std::optional<Source> src;
    if (req.s_readable) src = Read(req.s_conf, root);
    if (!src) src = Read(req.b_conf, root);
    if (!src) continue;
    if (UnitOf(root) == req.unit) SetUsage(src->record, usage);
    const std::string dst = req.out_conf + "/" + src->rel;
    const std::string bytes = FormatQuotaRecord(src->record);
    if (auto old = ReadFile(dst, 1 << 20); old && std::string(old->begin(), old->end()) == bytes) {
      written.push_back(root);  // already there (rerun, or in place with nothing changed)
      continue;
    }
    if (Status s = MakeDirs(dst.substr(0, dst.rfind('/'))); !s.ok()) return s.error();
    if (Status s = WriteFileAtomic(dst, bytes); !s.ok()) return s.error();
    ::chmod(dst.c_str(), 0600);
    if (req.set_owner && ::chown(dst.c_str(), req.owner, req.group) != 0) return ErrnoError(dst, errno);
    written.push_back(root);
  }
  return written;
}

}  // namespace mr::reconcile
