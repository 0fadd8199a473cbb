// annotations.db reading and key/value helpers. See annotations_db.h.
#include "reconcile/cyrus/annotations_db.h"

#include <sys/stat.h>

#include <cerrno>

#include "common/fsutil.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::cyrus {
namespace {

constexpr std::uint8_t kFlagDeleted = 1;

}  // namespace

std::string AnnotationKey(std::string_view mailbox, const AnnotationRecord& r) {
  std::string k;
  k.reserve(mailbox.size() + r.entry.size() + r.userid.size() + 3);
  k.append(mailbox);
  k.push_back('\0');
  k.append(r.entry);
  k.push_back('\0');
  k.append(r.userid);
  k.push_back('\0');
  return k;
}

bool ParseAnnotationData(std::string_view data, std::string* value, bool* deleted) {
  if (data.size() < 8) return false;
  const auto* d = reinterpret_cast<const std::uint8_t*>(data.data());
  const std::uint64_t len = (std::uint64_t{d[0]} << 24) | (std::uint64_t{d[1]} << 16) |
                            (std::uint64_t{d[2]} << 8) | d[3];
  if (len > data.size() - 8) return false;
  *value = std::string(data.substr(8, len));
  *deleted = false;
  // After the value: NUL, (older records) content-type NUL + 8 bytes, modseq (8), flags (1).
  std::size_t p = 8 + len + 1;
  if (p < data.size()) {
    const std::size_t z = data.find('\0', p);
    if (z == std::string_view::npos) return true;
    p = z + 1 + 8;
  }
  if (p < data.size()) p += 8;
  if (p < data.size()) *deleted = (d[p] & kFlagDeleted) != 0;
  return true;
}

std::uint64_t AnnotationQuotaSize(const AnnotationRecord& r) {
  std::string value;
  bool deleted = false;
  if (!ParseAnnotationData(r.data, &value, &deleted) || deleted) return 0;
  return value.size();
}

Result<AnnotationsDb> ReadAnnotationsDb(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Error{Code::kNotFound, path + ": no such file"};
    return ErrnoError(path, errno);
  }
  auto bytes = ReadFile(path);
  if (!bytes) return bytes.error();
  if (bytes->empty()) return Error{Code::kCorrupt, path + ": empty"};
  AnnotationsDb out;
  auto kv = ReadTwoskip(*bytes, &out.problems);
  if (!kv) return Error{Code::kCorrupt, path + ": " + kv.error().message};
  for (auto& [key, data] : *kv) {
    // mailbox NUL entry NUL userid NUL: exactly three NULs, the last one closing the key.
    const std::size_t z1 = key.find('\0');
    const std::size_t z2 = z1 == std::string::npos ? z1 : key.find('\0', z1 + 1);
    const std::size_t z3 = z2 == std::string::npos ? z2 : key.find('\0', z2 + 1);
    if (z3 == std::string::npos || z3 + 1 != key.size() || z2 == z1 + 1) {
      out.problems.push_back("malformed key (" + std::to_string(key.size()) + " bytes)");
      continue;
    }
    AnnotationRecord r;
    r.entry = key.substr(z1 + 1, z2 - z1 - 1);
    r.userid = key.substr(z2 + 1, z3 - z2 - 1);
    r.data = std::move(data);
    out.by_mailbox[key.substr(0, z1)].push_back(std::move(r));
  }
  return out;
}

}  // namespace mr::cyrus
