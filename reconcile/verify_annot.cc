// verify_annot: message annotations from cyrus.annotations. See verify_annot.h.
#include "reconcile/verify_annot.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/fsutil.h"
#include "reconcile/cyrus/annotations_db.h"
#include "reconcile/cyrus/twoskip.h"

namespace mr::verify {
namespace {

constexpr std::string_view kOwnerUserid = "[.OwNeR.]";

// "<uid>\0<entry>\0<userid>\0" -> parts; false if not that shape.
bool SplitKey(const std::string& key, std::uint32_t* uid, std::string* entry,
              std::string* userid) {
  if (key.empty() || key.back() != '\0') return false;
  std::size_t z1 = key.find('\0');
  std::size_t z2 = key.find('\0', z1 + 1);
  if (z2 == std::string::npos || z2 + 1 >= key.size()) return false;
  std::size_t z3 = key.find('\0', z2 + 1);
  if (z3 != key.size() - 1) return false;
  if (z1 == 0 || z1 > 10) return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < z1; ++i) {
    if (key[i] < '0' || key[i] > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(key[i] - '0');
  }
  if (v > 0xffffffffull) return false;
  *uid = static_cast<std::uint32_t>(v);
  *entry = key.substr(z1 + 1, z2 - z1 - 1);
  *userid = key.substr(z2 + 1, z3 - z2 - 1);
  return true;
}

}  // namespace

Result<cyrus::AnnotationsForCrc> ReadMessageAnnotations(const std::string& path,
                                                        std::vector<std::string>* problems,
                                                        const std::string& owner) {
  cyrus::AnnotationsForCrc out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return out;
    return ErrnoError(path, errno);
  }
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.error();
  if (bytes->empty()) return out;
  std::vector<std::string> db_problems;
  auto kv = cyrus::ReadTwoskip(*bytes, &db_problems);
  for (const auto& p : db_problems) problems->push_back("cyrus.annotations: " + p);
  if (!kv.ok()) {
    problems->push_back("cyrus.annotations: " + kv.error().message);
    return out;
  }
  for (const auto& [key, data] : *kv) {
    cyrus::MessageAnnotation a;
    if (!SplitKey(key, &a.uid, &a.entry, &a.userid)) {
      problems->push_back("cyrus.annotations: malformed key (" + std::to_string(key.size()) +
                          " bytes)");
      continue;
    }
    if (a.uid == 0) continue;  // mailbox annotation
    bool deleted = false;
    if (!cyrus::ParseAnnotationData(data, &a.value, &deleted)) {
      problems->push_back("cyrus.annotations: uid " + std::to_string(a.uid) + " entry " +
                          a.entry + ": malformed value");
      continue;
    }
    if (deleted || a.value.empty()) continue;
    if (!owner.empty() && a.userid == kOwnerUserid) a.userid = owner;
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace mr::verify
