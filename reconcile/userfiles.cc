#include "reconcile/userfiles.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"

namespace mr::reconcile {
namespace {

bool IsFile(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string UuidDir(const std::string& conf, const std::string& id) {
  if (id.size() < 2) return "";
  return conf + "/user/uuid/" + id.substr(0, 1) + "/" + id.substr(1, 1) + "/" + id;
}

// imap/mboxname.c mboxname_conf_getpath_legacy: the file is named by the local part as
// the user logs in ("fred^smith" -> fred.smith), and a virtual domain's users live under
// domain/<h>/<domain>/: "fred^smith@example.org" -> domain/e/example.org/user/f/fred.smith.
std::string LegacyBase(const std::string& conf, const std::string& user) {
  const std::size_t at = user.find('@');
  std::string local = user.substr(0, at);
  std::replace(local.begin(), local.end(), '^', '.');
  std::string out = conf;
  if (at != std::string::npos) {
    const std::string domain = user.substr(at + 1);
    out += "/domain/" + std::string(1, HashDirChar(domain, false)) + "/" + domain;
  }
  return out + "/user/" + std::string(1, HashDirChar(local, false)) + "/" + local;
}

// Where `kind` ("seen"|"sub") of a user lives in `conf`, in either layout.
std::optional<std::string> Find(const std::string& conf, const std::string& user, const std::string& inbox_id,
                                const std::string& kind) {
  if (conf.empty()) return std::nullopt;
  if (std::string d = UuidDir(conf, inbox_id); !d.empty() && IsFile(d + "/" + kind + ".db")) return d + "/" + kind + ".db";
  if (std::string p = LegacyBase(conf, user) + "." + kind; IsFile(p)) return p;
  return std::nullopt;
}

}  // namespace

Status CopyUserFiles(const UserFilesRequest& req) {
  for (const std::string kind : {"seen", "sub"}) {
    std::optional<std::string> src;
    if (req.s_readable) src = Find(req.s_conf, req.user, req.s_inbox_uniqueid, kind);
    if (!src) src = Find(req.b_conf, req.user, req.b_inbox_uniqueid, kind);
    if (!src) continue;
    std::string dst;
    if (req.out_legacy || req.out_inbox_uniqueid.size() < 2) {
      dst = LegacyBase(req.out_conf, req.user) + "." + kind;
    } else {
      dst = UuidDir(req.out_conf, req.out_inbox_uniqueid) + "/" + kind + ".db";
    }
    if (*src == dst) continue;  // in place: already there
    auto bytes = ReadFile(*src, 1ull << 30);
    if (!bytes) return bytes.error();
    std::string dir = dst.substr(0, dst.rfind('/'));
    if (Status s = MakeDirs(dir, 0700); !s.ok()) return s;
    if (Status s = WriteFileAtomic(dst, *bytes); !s.ok()) return s;
    ::chmod(dst.c_str(), 0600);
    if (req.set_owner && ::chown(dst.c_str(), req.owner, req.group) != 0) return ErrnoError(dst, errno);
  }
  return Status::Ok();
}

}  // namespace mr::reconcile
