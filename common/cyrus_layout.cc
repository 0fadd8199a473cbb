// Cyrus mailbox name <-> spool directory mapping. See cyrus_layout.h; the
// rules follow imap/mboxname.c (mboxname_hash, mboxname_id_hash) and
// lib/util.c (dir_hash_c).
#include "common/cyrus_layout.h"

#include <vector>

namespace mr {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// dir_hash_c over `s` (stops at the first '.').
char DirHash(std::string_view s, bool full) {
  if (full) {
    std::uint32_t n = 0;
    for (char ch : s) {
      if (ch == '.' || ch == '\0') break;
      n = ((n << 3) ^ (n >> 5)) ^ static_cast<unsigned char>(ch);
    }
    return static_cast<char>('A' + n % 23);
  }
  const char c = s.empty() ? '\0' : LowerAscii(s[0]);
  return (c >= 'a' && c <= 'z') ? c : 'q';
}

// Splits "domain!rest" into (domain, rest); domain empty when absent.
std::pair<std::string_view, std::string_view> SplitDomain(std::string_view name) {
  const std::size_t bang = name.find('!');
  if (bang == std::string_view::npos) return {{}, name};
  return {name.substr(0, bang), name.substr(bang + 1)};
}

bool ValidComponent(std::string_view c) {
  return !c.empty() && c != "." && c != ".." && c.find('.') == std::string_view::npos &&
         c.find('\0') == std::string_view::npos;
}

}  // namespace

char HashDirChar(std::string_view user, bool fulldirhash) { return DirHash(user, fulldirhash); }

std::string UserFromListEntry(std::string_view entry) {
  std::string out(entry);
  const std::size_t at = out.find('@');
  const std::size_t local_end = at == std::string::npos ? out.size() : at;
  for (std::size_t i = 0; i < local_end; ++i)
    if (out[i] == '.') out[i] = '^';
  return out;
}

std::string MailboxRelDir(std::string_view internal_name, std::string_view uniqueid,
                          CyrusLayout layout, bool hashimapspool, bool fulldirhash) {
  if (layout == CyrusLayout::kUuid) {
    std::string out = "uuid/";
    out += uniqueid.empty() ? 'q' : uniqueid[0];
    out += '/';
    out += uniqueid.size() < 2 ? 'q' : uniqueid[1];
    out += '/';
    out += uniqueid;
    return out;
  }
  auto [domain, name] = SplitDomain(internal_name);
  std::string out;
  if (!domain.empty()) {
    out += "domain/";
    if (hashimapspool) {
      out += DirHash(domain, fulldirhash);
      out += '/';
    }
    out += domain;
    out += '/';
  }
  if (hashimapspool) {
    const std::size_t dot = name.find('.');
    out += DirHash(dot == std::string_view::npos ? name : name.substr(dot + 1), fulldirhash);
    out += '/';
  }
  for (char c : name) out += (c == '.') ? '/' : c;
  return out;
}

std::string UserOf(std::string_view internal_name) {
  auto [domain, name] = SplitDomain(internal_name);
  if (name.substr(0, 5) != "user.") return {};
  std::string_view rest = name.substr(5);
  const std::size_t dot = rest.find('.');
  std::string user(rest.substr(0, dot));
  if (user.empty()) return {};
  if (!domain.empty()) {
    user += '@';
    user += domain;
  }
  return user;
}

std::string UnitOf(std::string_view internal_name) {
  if (internal_name.empty()) return {};
  std::string user = UserOf(internal_name);
  if (!user.empty()) return user;
  std::string_view local = SplitDomain(internal_name).second;
  if (local.empty() || local.substr(0, 8) == "DELETED.") return {};
  return std::string(kSharedUnit);
}

std::string FolderOf(std::string_view internal_name) {
  auto [domain, name] = SplitDomain(internal_name);
  if (name.substr(0, 5) != "user." || name.size() == 5) return {};
  std::string_view rest = name.substr(5);
  const std::size_t dot = rest.find('.');
  if (dot == 0) return {};
  if (dot == std::string_view::npos) return "INBOX";
  return "INBOX" + std::string(rest.substr(dot));
}

std::string InternalName(std::string_view user, std::string_view folder) {
  std::string_view local = user;
  std::string_view domain;
  const std::size_t at = user.find('@');
  if (at != std::string_view::npos) {
    local = user.substr(0, at);
    domain = user.substr(at + 1);
  }
  std::string out;
  if (!domain.empty()) {
    out += domain;
    out += '!';
  }
  out += "user.";
  out += local;
  if (folder == "INBOX" || folder.empty()) return out;
  if (folder.substr(0, 6) == "INBOX.") folder.remove_prefix(6);
  out += '.';
  out += folder;
  return out;
}

std::optional<std::string> MailboxFromLegacyRelDir(std::string_view rel_dir, bool hashimapspool,
                                                   bool fulldirhash) {
  while (!rel_dir.empty() && rel_dir.back() == '/') rel_dir.remove_suffix(1);
  while (!rel_dir.empty() && rel_dir.front() == '/') rel_dir.remove_prefix(1);
  if (rel_dir.empty()) return std::nullopt;
  std::vector<std::string_view> parts = Split(rel_dir, '/');
  std::size_t i = 0;
  std::string domain;
  if (parts.size() > 2 && parts[0] == "domain") {
    if (hashimapspool) {
      if (parts.size() < 4 || parts[1].size() != 1) return std::nullopt;
      domain = std::string(parts[2]);
      if (DirHash(domain, fulldirhash) != parts[1][0]) return std::nullopt;
      i = 3;
    } else {
      domain = std::string(parts[1]);
      i = 2;
    }
    if (domain.empty() || domain == "." || domain == "..") return std::nullopt;
  }
  char hash = 0;
  if (hashimapspool) {
    if (i >= parts.size() || parts[i].size() != 1) return std::nullopt;
    hash = parts[i][0];
    ++i;
  }
  if (i + 1 >= parts.size()) return std::nullopt;  // need at least two name parts
  std::string name;
  for (std::size_t k = i; k < parts.size(); ++k) {
    if (!ValidComponent(parts[k])) return std::nullopt;
    if (!name.empty()) name += '.';
    name += parts[k];
  }
  if (hashimapspool && DirHash(parts[i + 1], fulldirhash) != hash) return std::nullopt;
  if (!domain.empty()) name = domain + "!" + name;
  return name;
}

std::optional<std::string> UniqueidFromUuidRelDir(std::string_view rel_dir) {
  while (!rel_dir.empty() && rel_dir.back() == '/') rel_dir.remove_suffix(1);
  std::vector<std::string_view> parts = Split(rel_dir, '/');
  if (parts.size() != 4 || parts[0] != "uuid") return std::nullopt;
  const std::string_view id = parts[3];
  if (id.size() < 2 || parts[1].size() != 1 || parts[2].size() != 1 || parts[1][0] != id[0] ||
      parts[2][0] != id[1])
    return std::nullopt;
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-';
    if (!ok) return std::nullopt;
  }
  return std::string(id);
}

}  // namespace mr
