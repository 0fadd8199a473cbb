#include "salvage/catalog.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <string_view>
#include <unordered_set>

#include <zlib.h>

#include "common/fsutil.h"
#include "common/sha1.h"
#include "salvage/cyrus_meta.h"
#include "salvage/file_data.h"
#include "salvage/inode.h"
#include "salvage/inode_scan.h"
#include "salvage/walker.h"

namespace mr::salvage {
namespace {

constexpr std::uint64_t kMetaCap = 64ull << 20;   // cyrus.index of a huge folder fits
constexpr std::uint64_t kLostHashCap = 256ull << 20;

std::uint32_t Crc32(const std::vector<std::uint8_t>& d) {
  return static_cast<std::uint32_t>(::crc32(0L, d.data(), static_cast<uInt>(d.size())));
}

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to; ++i) s += (s.empty() ? "" : "/") + v[i];
  return s;
}

struct MailboxInfo {
  std::string name;
  std::string uniqueid;
};

class Builder {
 public:
  Builder(ext2_filsys fs, const CatalogOptions& o)
      : fs_(fs), opts_(o), c_(std::make_shared<SpillSpace>(o.spill)), children_(c_.space), group_(c_.space) {}

  Result<Catalog> Run() {
    // Nodes are never copied while growing (salvage/spill_array.h): nothing to reserve.
    Walker w(fs_, &c_.tree);
    w.Walk(EXT2_ROOT_INO, -1, "");
    ScanLost(w);
    for (auto& n : w.notes()) c_.damage.push_back(n);
    if (Status s = c_.space->status(); !s.ok()) return s.error();  // a full spill disk
    BuildChildren();
    FindMailboxes();
    if (Status s = FindRoots(); !s.ok()) return s.error();
    RehomeDirs();
    RehomeFiles();
    RelinkMessages();
    children_ = SpillArray<ChildEntry>();  // not needed any more: free them before the paths
    strays_ = {};
    children_added_ = {};
    if (Status s = AssignPaths(); !s.ok()) return s.error();
    BuildMembers();
    group_ = SpillArray<std::int32_t>();
    for (const auto& d : c_.tree.dirs)
      if (!d.complete)
        c_.damage.push_back({"directory", c_.tree.PathOf(d.node) + ": " + d.problem});
    if (Status s = c_.space->status(); !s.ok()) return s.error();
    return std::move(c_);
  }

 private:
  void ScanLost(Walker& w) {
    auto scan = ScanInodes(fs_, [&w](std::uint32_t ino) { return w.Reached(ino); });
    c_.live_inodes = scan.live;
    for (auto g : scan.unreadable_groups)
      c_.damage.push_back({"inode_table", "group " + std::to_string(g) + ": inode table unreadable"});
    for (const auto& l : scan.lost) {
      if (!IsDir(l.mode) || w.Visited(l.ino)) continue;
      std::int32_t r = w.Walk(l.ino, -1, "#" + std::to_string(l.ino));
      c_.tree.lost.push_back(r);
    }
    for (const auto& l : scan.lost) {
      if (IsDir(l.mode) || w.Reached(l.ino)) continue;
      c_.tree.lost.push_back(c_.tree.Add(l.ino, -1, TypeFromMode(l.mode), false, "#" + std::to_string(l.ino)));
    }
    std::erase(c_.tree.lost, -1);
  }

  static std::uint32_t NameHash(std::string_view name) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(name));
  }

  // Children by (parent, name): entries sorted by (parent, name hash, node),
  // 12 bytes a node in a SpillArray (a map of names per directory cost ~90).
  // The walker adds each directory's entries as one run and reads the
  // directories in node order, so sorting each run on its own sorts them all
  // (no sort of the whole array); nodes outside the runs (lost roots the
  // walker re-attached) and any run out of order are strays_, few, on the
  // heap. An entry counts only while its node still has that parent and
  // name (Reparent moves nodes); links made after the build are in
  // children_added_. Of two entries with one name in one directory, the
  // later node is the child.
  struct ChildEntry {
    std::int32_t parent;
    std::uint32_t hash;
    std::int32_t node;
    auto operator<=>(const ChildEntry&) const = default;
  };

  void BuildChildren() {
    const auto n = static_cast<std::int32_t>(c_.tree.nodes.size());
    std::vector<std::pair<std::int32_t, std::int32_t>> runs;
    for (const auto& d : c_.tree.dirs)
      if (d.end_child > d.first_child) runs.emplace_back(d.first_child, d.end_child);
    std::sort(runs.begin(), runs.end());
    auto entry = [&](std::int32_t k) { return ChildEntry{c_.tree.nodes[k].parent, NameHash(c_.tree.Name(k)), k}; };
    std::int32_t i = 0;
    for (auto [first, end] : runs) {
      if (first < i) first = i;  // overlapping runs cannot happen; stay correct anyway
      for (; i < first; ++i)
        if (c_.tree.nodes[i].parent >= 0) strays_.push_back(entry(i));
      const std::size_t from = children_.size();
      for (; i < end; ++i) {
        if (c_.tree.nodes[i].parent >= 0) children_.push_back(entry(i));
        children_.Tick();
      }
      std::sort(children_.begin() + from, children_.end());
      if (from > 0 && from < children_.size() && children_[from] < children_[from - 1]) {
        for (std::size_t k = from; k < children_.size(); ++k) strays_.push_back(children_[k]);
        children_.resize(from);  // not in order after the runs before: strays
      }
    }
    for (; i < n; ++i)
      if (c_.tree.nodes[i].parent >= 0) strays_.push_back(entry(i));
    std::sort(strays_.begin(), strays_.end());
  }

  bool IsChild(std::int32_t node, std::int32_t dir, std::string_view name) const {
    return c_.tree.nodes[node].parent == dir && c_.tree.Name(node) == name;
  }

  std::int32_t Child(std::int32_t dir, std::string_view name) const {
    auto a = children_added_.find(std::make_pair(dir, std::string(name)));
    if (a != children_added_.end() && IsChild(a->second, dir, name)) return a->second;
    const ChildEntry key{dir, NameHash(name), -1};
    std::int32_t found = -1;
    auto scan = [&](const ChildEntry* b, const ChildEntry* e) {
      for (auto it = std::lower_bound(b, e, key); it != e && it->parent == dir && it->hash == key.hash; ++it)
        if (IsChild(it->node, dir, name)) found = std::max(found, it->node);
    };
    scan(children_.begin(), children_.end());
    scan(strays_.data(), strays_.data() + strays_.size());
    return found;
  }

  void Reparent(std::int32_t node, std::int32_t parent, const std::string& name) {
    c_.tree.nodes[node].parent = parent;
    c_.tree.SetName(node, name);
    children_added_[std::make_pair(parent, name)] = node;
  }

  std::int32_t AddSynthetic(std::int32_t parent, const std::string& name) {
    auto idx = c_.tree.Add(0, parent, NodeType::kDir, false, name);
    children_added_[std::make_pair(parent, name)] = idx;
    c_.tree.SetDirIndex(idx, static_cast<std::int32_t>(c_.tree.dirs.size()));
    c_.tree.dirs.push_back({idx, false, "created by salvage: the original directory was lost"});
    return idx;
  }

  void FindMailboxes() {
    for (std::int32_t i = 0; i < static_cast<std::int32_t>(c_.tree.nodes.size()); ++i) {
      c_.Tick();
      const auto& n = c_.tree.nodes[i];
      if (n.type != NodeType::kFile || n.parent < 0) continue;
      if (c_.tree.Name(i) != "cyrus.header") continue;
      bool damaged = false;
      auto data = ReadSmallFile(fs_, n.ino, 1 << 20, &damaged);
      if (!data.ok()) continue;
      auto h = ParseCyrusHeader(*data);
      if (!h.ok()) continue;
      mailboxes_[n.parent] = MailboxInfo{h->name, h->uniqueid};
      header_crc_[Crc32(*data)] = n.parent;
    }
    for (const auto& d : c_.tree.dirs) dir_by_ino_.emplace(c_.tree.nodes[d.node].ino, d.node);
    c_.mailboxes = mailboxes_.size();
  }

  bool PathUnderRoot(std::int32_t node) const {
    std::int32_t guard = static_cast<std::int32_t>(c_.tree.nodes.size());
    while (node > 0 && guard-- > 0) {
      if (c_.tree.nodes[node].parent < 0) return false;
      node = c_.tree.nodes[node].parent;
    }
    return node == 0;
  }

  bool IsLostRoot(std::int32_t node) const { return node > 0 && c_.tree.nodes[node].parent < 0; }

  // Where the node is extracted from as it stands: under the fs root, or
  // under the spool or config directory (which may lie inside a lost tree).
  bool Placed(std::int32_t node) const {
    std::int32_t guard = static_cast<std::int32_t>(c_.tree.nodes.size());
    while (node >= 0 && guard-- > 0) {
      if (node == 0 || node == spool_node_ || node == config_node_) return true;
      node = c_.tree.nodes[node].parent;
    }
    return false;
  }

  std::int32_t Ancestor(std::int32_t node, size_t up) const {
    while (up-- > 0 && node >= 0) node = c_.tree.nodes[node].parent;
    return node;
  }

  // A lost root's old parent, by its "..": a directory node, or -1.
  std::int32_t DotdotNode(std::int32_t root) const {
    auto dd = c_.tree.root_dotdot.find(root);
    if (dd == c_.tree.root_dotdot.end()) return -1;
    auto p = dir_by_ino_.find(dd->second);
    return p == dir_by_ino_.end() || p->second == root ? -1 : p->second;
  }

  Result<std::int32_t> Resolve(const std::string& path, const char* what) {
    std::int32_t cur = 0;
    for (const auto& comp : SplitPath(path)) {
      cur = Child(cur, comp);
      if (cur < 0 || c_.tree.nodes[cur].type != NodeType::kDir)
        return Error{Code::kInvalidArgument, std::string(what) + " " + path + ": no such directory in the filesystem"};
    }
    return cur;
  }

  // How far a mailbox directory's path agrees with the path `comps` its
  // layout gives it (relative to the partition root), climbing from the
  // directory. `k` counts the components matched by entry names inside the
  // directory's own tree; a lost root (its name is gone) may stand for one
  // component when its ".." continues the match (`lost` as `lost_name` in
  // `lost_parent`). `full`: every component matched; `root` is then the
  // partition root.
  struct LayoutMatch {
    int k = 0;
    bool full = false;
    std::int32_t root = -1;
    std::int32_t lost = -1, lost_parent = -1;
    std::string lost_name;
  };
  LayoutMatch MatchLayout(std::int32_t dir, const std::vector<std::string>& comps) const {
    LayoutMatch m;
    std::int32_t cur = dir;
    size_t left = comps.size();
    std::int32_t guard = static_cast<std::int32_t>(c_.tree.nodes.size());
    while (left > 0 && cur >= 0 && guard-- > 0) {
      if (IsLostRoot(cur)) {
        const std::int32_t p = DotdotNode(cur);
        if (m.lost >= 0 || p < 0) return m;  // one leap at most
        m.lost = cur;
        m.lost_name = comps[left - 1];
        m.lost_parent = p;
        --left;
        cur = p;
        continue;
      }
      if (cur == 0 || c_.tree.Name(cur) != comps[left - 1]) return m;
      if (m.lost < 0) ++m.k;
      --left;
      cur = c_.tree.nodes[cur].parent;
    }
    if (left == 0 && cur >= 0) {
      m.full = true;
      m.root = cur;
    }
    return m;
  }

  // A pre-3.6 header has no name: take it from a legacy path (a "user" or
  // "domain" component, or a hash letter before "user"), inside the
  // directory's own tree.
  std::string NameFromLegacyPath(std::int32_t dir, const std::string& uniqueid) const {
    auto parts = SplitPath(c_.tree.PathOf(dir));
    const size_t n = parts.size();
    for (size_t j = 0; j < n; ++j) {
      const bool start = parts[j] == "user" || parts[j] == "domain" ||
                         (parts[j].size() == 1 && j + 1 < n && parts[j + 1] == "user");
      if (!start) continue;
      for (bool hash : {true, false}) {
        auto name = mr::MailboxFromLegacyRelDir(Join(parts, j, n), hash);
        if (name && mr::MailboxRelDir(*name, uniqueid, CyrusLayout::kLegacy, hash) == Join(parts, j, n))
          return *name;
      }
    }
    return "";
  }

  // Spool discovery: every mailbox directory (reachable or in a lost tree)
  // is matched against the path each layout gives its name and uniqueid.
  // Layout: a uuid directory is named after its uniqueid; a legacy one after
  // its last name part, inside its parent folder's directory. The partition
  // root: the most votes of full matches, reachable ones first; a lost root
  // whose ".." completes a full match is put back under that name.
  Status FindRoots() {
    struct Eval {
      std::int32_t dir;
      LayoutMatch uuid, hashed, plain;
    };
    std::vector<Eval> evals;
    int uuid_votes = 0, legacy_votes = 0, hash_full = 0, legacy_full = 0;
    for (auto& [dir, mb] : mailboxes_) {
      c_.Tick();
      if (mb.name.empty()) mb.name = NameFromLegacyPath(dir, mb.uniqueid);
      Eval e{dir, {}, {}, {}};
      if (!mb.uniqueid.empty())
        e.uuid = MatchLayout(dir, SplitPath(mr::MailboxRelDir(mb.name, mb.uniqueid, CyrusLayout::kUuid, false)));
      if (!mb.name.empty()) {
        e.hashed = MatchLayout(dir, SplitPath(mr::MailboxRelDir(mb.name, mb.uniqueid, CyrusLayout::kLegacy, true)));
        e.plain = MatchLayout(dir, SplitPath(mr::MailboxRelDir(mb.name, mb.uniqueid, CyrusLayout::kLegacy, false)));
      }
      const int uk = e.uuid.full ? 1000 : e.uuid.k;
      const int lk = std::max(e.hashed.full || e.plain.full ? 1000 : 0, std::max(e.hashed.k, e.plain.k));
      if (uk > 0 && uk >= lk) ++uuid_votes;
      else if (lk > 0) ++legacy_votes;
      if (e.hashed.full || e.plain.full) ++legacy_full;
      if (e.hashed.full) ++hash_full;
      evals.push_back(std::move(e));
    }
    c_.layout = legacy_votes > uuid_votes ? CyrusLayout::kLegacy : CyrusLayout::kUuid;
    c_.hashimapspool = hash_full * 2 > legacy_full;
    auto chosen = [&](const Eval& e) -> const LayoutMatch& {
      if (c_.layout == CyrusLayout::kUuid) return e.uuid;
      if (c_.hashimapspool) return e.hashed;
      return e.plain;
    };
    if (opts_.spool_path) {
      auto r = Resolve(*opts_.spool_path, "--spool-path");
      if (!r.ok()) return r.error();
      spool_node_ = *r;
    } else {
      std::map<std::int32_t, int> votes;
      for (const auto& e : evals)
        if (const LayoutMatch& m = chosen(e); m.full) ++votes[m.root];
      std::int32_t best = -1;
      for (bool reachable : {true, false}) {
        for (const auto& [root, n] : votes)
          if (PathUnderRoot(root) == reachable && (best < 0 || n > votes[best])) best = root;
        if (best >= 0) break;
      }
      if (best >= 0) {
        spool_node_ = best;
      } else {
        spool_node_ = 0;
        if (mailboxes_.empty())
          c_.notes.push_back("no cyrus.header found: the whole filesystem is treated as the spool");
        else
          c_.damage.push_back({"discovery", "no mailbox directory lies where its layout puts it: the whole "
                                            "filesystem is treated as the spool"});
      }
    }
    if (uuid_votes > 0 && legacy_votes > 0)
      c_.damage.push_back({"discovery", "layout " + std::string(c_.layout == CyrusLayout::kUuid ? "uuid" : "legacy") +
                                            " chosen by " + std::to_string(std::max(uuid_votes, legacy_votes)) +
                                            " mailbox directories against " +
                                            std::to_string(std::min(uuid_votes, legacy_votes))});
    // Lost roots that a full match in the chosen layout names: back under their "..".
    std::map<std::int32_t, std::pair<std::int32_t, std::string>> attach;
    std::set<std::int32_t> conflict;
    for (const auto& e : evals) {
      const LayoutMatch& m = chosen(e);
      if (!m.full || m.lost < 0 || m.root != spool_node_) continue;
      auto [it, inserted] = attach.emplace(m.lost, std::make_pair(m.lost_parent, m.lost_name));
      if (!inserted && it->second != std::make_pair(m.lost_parent, m.lost_name)) conflict.insert(m.lost);
    }
    for (const auto& [root, where] : attach) {
      const std::uint32_t ino = c_.tree.nodes[root].ino;
      if (conflict.count(root)) {
        c_.damage.push_back({"rehome", "lost directory inode " + std::to_string(ino) +
                                           ": the mailboxes inside name it differently; not put back by its '..'"});
        continue;
      }
      if (!IsLostRoot(root) || Child(where.first, where.second) >= 0) continue;
      Reparent(root, where.first, where.second);
      ++c_.rehomed_dirs;
      c_.damage.push_back({"rehome", "lost directory inode " + std::to_string(ino) + " put back at " +
                                         c_.tree.PathOf(root) + ": its '..' is " + c_.tree.PathOf(where.first) +
                                         " and the mailboxes inside it are named for that path"});
    }
    c_.spool_path = c_.tree.PathOf(spool_node_);
    if (!PathUnderRoot(spool_node_)) {
      std::int32_t top = spool_node_;
      while (c_.tree.nodes[top].parent >= 0) top = c_.tree.nodes[top].parent;
      const std::int32_t was = DotdotNode(top);
      c_.damage.push_back({"discovery", "partition root found inside lost directory inode " +
                                            std::to_string(c_.tree.nodes[top].ino) +
                                            (was >= 0 ? " (once a child of " + c_.tree.PathOf(was) + ")" : "") +
                                            ", at " + c_.spool_path + ": the mailboxes below it are where their " +
                                            (c_.layout == CyrusLayout::kUuid ? "uuid" : "legacy") +
                                            " paths put them"});
    }
    if (opts_.config_path) {
      auto r = Resolve(*opts_.config_path, "--config-path");
      if (!r.ok()) return r.error();
      config_node_ = *r;
    } else {
      FindConfig();
    }
    c_.config_path = config_node_ >= 0 && c_.tree.nodes[config_node_].ino != 0 ? c_.tree.PathOf(config_node_) : "";
    if (config_node_ == spool_node_) config_node_ = -1;
    return {};
  }

  // --- config directory -------------------------------------------------

  // The nodes listed in directory `dir` (its walker run) that still hang there.
  std::vector<std::int32_t> Listing(std::int32_t dir) const {
    std::vector<std::int32_t> out;
    const std::int32_t di = c_.tree.DirIndex(dir);
    if (di < 0) return out;
    const DirState& d = c_.tree.dirs[di];
    for (std::int32_t k = d.first_child; k < d.end_child; ++k)
      if (c_.tree.nodes[k].parent == dir) out.push_back(k);
    return out;
  }

  static bool UserFileName(std::string_view n) {
    static constexpr std::string_view kExact[] = {"sub.db", "seen.db", "conversations.db", "counters.db",
                                                  "xapianactive", "dav.db"};
    static constexpr std::string_view kSuffix[] = {".seen", ".sub", ".conversations", ".counters", ".dav"};
    for (auto e : kExact) if (n == e) return true;
    for (auto s : kSuffix) if (n.size() > s.size() && n.substr(n.size() - s.size()) == s) return true;
    return false;
  }

  // What a directory of a config directory a lost tree looks like, by its
  // contents (bounded): "user" (per-user seen/sub/conversations files under
  // uuid/a/b/<id>/ or <h>/), "domain" (<h>/<domain>/user/...), "quota"
  // (<h>/user.<name> files only), or "" (anything else; a mailbox never).
  std::string ConfSubdirKind(std::int32_t root) const {
    int user_files = 0, under_user = 0, quota_files = 0, other_files = 0, seen = 0;
    struct At { std::int32_t dir; int depth; bool in_user; };
    std::vector<At> stack{{root, 0, false}};
    while (!stack.empty() && seen < 4096) {
      const At at = stack.back();
      stack.pop_back();
      if (mailboxes_.count(at.dir)) return "";
      for (std::int32_t k : Listing(at.dir)) {
        ++seen;
        const std::string_view n = c_.tree.Name(k);
        if (c_.tree.nodes[k].type == NodeType::kDir) {
          if (at.depth < 6) stack.push_back({k, at.depth + 1, at.in_user || n == "user"});
        } else if (n == "cyrus.header") {
          return "";
        } else if (UserFileName(n)) {
          ++user_files;
          under_user += at.in_user;
        } else if (at.depth == 1 && n.substr(0, 5) == "user.") {
          ++quota_files;
        } else {
          ++other_files;
        }
      }
    }
    if (user_files > 0) return under_user == user_files ? "domain" : "user";
    if (quota_files > 0 && other_files == 0) return "quota";
    return "";
  }

  // How much `dir` looks like Cyrus's config directory by the names it
  // holds: mailboxes.db 4; annotations.db, user/, quota/, domain/ 1 each;
  // any of Cyrus's runtime dirs (proc, socket, lock, log, sync, ...) 1;
  // any of its other databases 1; plus lost directories whose ".." is `dir`
  // and whose contents look like its user/, domain/ or quota/ (`lost_kids`).
  int ConfScore(std::int32_t dir, const std::vector<std::pair<std::int32_t, std::string>>& lost_kids) const {
    if (dir == spool_node_ || mailboxes_.count(dir)) return 0;
    auto is = [&](std::string_view name, NodeType t) {
      const std::int32_t k = Child(dir, name);
      return k >= 0 && c_.tree.nodes[k].type == t;
    };
    int score = is("mailboxes.db", NodeType::kFile) ? 4 : 0;
    std::set<std::string> kinds;
    for (const char* n : {"user", "quota", "domain"}) if (is(n, NodeType::kDir)) kinds.insert(n);
    for (const auto& [k, kind] : lost_kids) kinds.insert(kind);
    score += static_cast<int>(kinds.size());
    if (is("annotations.db", NodeType::kFile)) ++score;
    for (const char* n : {"proc", "socket", "lock", "log", "sync", "msg", "ptclient", "db"})
      if (is(n, NodeType::kDir)) { ++score; break; }
    for (const char* n : {"deliver.db", "tls_sessions.db", "statuscache.db", "backups.db", "zoneinfo.db",
                          "caldav_alarm.sqlite3", "quota.db", "user_deny.db", "mailboxes.db.NEW"})
      if (is(n, NodeType::kFile)) { ++score; break; }
    return score;
  }

  // Config discovery. A directory scoring at least 3 (ConfScore) is a
  // candidate; reachable ones first, then the highest score. It may lie in a
  // lost tree. Lost pieces are joined to it: lost user/domain/quota
  // directories whose ".." is it, and a lost file that parses as a
  // mailboxes.db when it has none. With no candidate, lost pieces alone
  // make a config directory: a lost mailboxes.db, and the lost
  // user/domain/quota directories that share one ".." (the config
  // directory's inode, itself gone).
  void FindConfig() {
    // Lost config subdirectories, by the inode their ".." names.
    std::map<std::uint32_t, std::vector<std::pair<std::int32_t, std::string>>> kids_by_dotdot;
    for (auto r : c_.tree.lost) {
      if (r < 0 || !IsLostRoot(r) || c_.tree.nodes[r].type != NodeType::kDir || Placed(r)) continue;
      auto dd = c_.tree.root_dotdot.find(r);
      if (dd == c_.tree.root_dotdot.end()) continue;
      std::string kind = ConfSubdirKind(r);
      if (!kind.empty()) kids_by_dotdot[dd->second].emplace_back(r, std::move(kind));
    }
    // Lost files that are a mailboxes.db (by its records) or an annotations.db
    // (keys naming mailboxes seen here), most records first.
    std::set<std::string, std::less<>> known;
    for (const auto& [dir, mb] : mailboxes_) {
      if (!mb.uniqueid.empty()) known.insert(mb.uniqueid);
      if (!mb.name.empty()) known.insert(mb.name);
    }
    std::vector<std::pair<std::size_t, std::int32_t>> dbs, annots;
    for (auto r : c_.tree.lost) {
      if (r < 0 || !IsLostRoot(r) || c_.tree.nodes[r].type != NodeType::kFile) continue;
      // Only a twoskip/skiplist file or one whose first line is `key TAB %(` is read whole.
      const auto head = ReadPrefix(c_.tree.nodes[r].ino, 4096);
      if (head.size() < 20) continue;
      if (!IsSkipDb(head)) {
        const std::string_view h(reinterpret_cast<const char*>(head.data()), head.size());
        const size_t tab = h.substr(0, h.find('\n')).find('\t');
        if (tab == std::string_view::npos || h.substr(tab + 1, 2) != "%(") continue;
      }
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[r].ino, kMetaCap, &damaged);
      if (!data.ok()) continue;
      if (std::size_t n = CountMailboxesDbRecords(*data); n > 0) dbs.emplace_back(n, r);
      else if (std::size_t a = CountAnnotationsDbKeys(*data, known); a > 0) annots.emplace_back(a, r);
    }
    auto most = [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; };
    std::sort(dbs.begin(), dbs.end(), most);
    std::sort(annots.begin(), annots.end(), most);
    static const std::vector<std::pair<std::int32_t, std::string>> kNone;
    std::int32_t best = -1;
    int best_score = 0;
    bool best_reachable = false;
    for (const auto& d : c_.tree.dirs) {
      c_.Tick();
      const std::int32_t node = d.node;
      auto kids = kids_by_dotdot.find(c_.tree.nodes[node].ino);
      const int s = ConfScore(node, kids == kids_by_dotdot.end() ? kNone : kids->second);
      if (s < 3) continue;
      const bool reachable = PathUnderRoot(node);
      if (best < 0 || (reachable && !best_reachable) || (reachable == best_reachable && s > best_score)) {
        best = node;
        best_score = s;
        best_reachable = reachable;
      }
    }
    std::vector<std::pair<std::int32_t, std::string>> kids;
    if (best >= 0) {
      config_node_ = best;
      if (auto it = kids_by_dotdot.find(c_.tree.nodes[best].ino); it != kids_by_dotdot.end()) kids = it->second;
      if (!best_reachable)
        c_.damage.push_back({"discovery", "config directory found in a lost tree: " + c_.tree.PathOf(best) +
                                              " (it holds what a Cyrus config directory holds); used as conf"});
    } else {
      // No candidate: the largest group of lost subdirectories sharing a "..", and a lost mailboxes.db.
      std::uint32_t from = 0;
      for (const auto& [ino, v] : kids_by_dotdot)
        if (v.size() > kids.size()) { kids = v; from = ino; }
      if (dbs.empty() && kids.size() < 2) return;
      auto was = from ? dir_by_ino_.find(from) : dir_by_ino_.end();
      if (was != dir_by_ino_.end() && was->second != spool_node_ && !mailboxes_.count(was->second)) {
        config_node_ = was->second;  // still there, its listing lost
        c_.damage.push_back({"discovery", "config directory " + c_.tree.PathOf(config_node_) +
                                              " found by the lost directories whose '..' it is"});
      } else {
        config_node_ = c_.tree.Add(0, -1, NodeType::kDir, false, "conf");
        c_.tree.SetDirIndex(config_node_, static_cast<std::int32_t>(c_.tree.dirs.size()));
        c_.tree.dirs.push_back({config_node_, false, "created by salvage: the config directory was lost"});
        c_.damage.push_back({"discovery", "config directory not found: conf is made of lost pieces" +
                                              (from ? " (directories whose '..' is inode " + std::to_string(from) +
                                                          ", no longer a directory)" : std::string())});
      }
    }
    for (const auto& [k, kind] : kids) {
      if (Child(config_node_, kind) >= 0) {
        c_.damage.push_back({"discovery", "lost directory inode " + std::to_string(c_.tree.nodes[k].ino) +
                                              " looks like the config directory's " + kind + "/, which exists; left in lost+found"});
        continue;
      }
      Reparent(k, config_node_, kind);
      ++c_.rehomed_dirs;
      c_.damage.push_back({"rehome", "lost directory inode " + std::to_string(c_.tree.nodes[k].ino) +
                                         " put back as the config directory's " + kind + "/ (its contents are per-user "
                                         "or quota files and its '..' is the config directory)"});
    }
    if (!dbs.empty() && Child(config_node_, "mailboxes.db") < 0) {
      const std::int32_t f = dbs.front().second;
      Reparent(f, config_node_, "mailboxes.db");
      ++c_.rehomed_files;
      std::string note = "lost file inode " + std::to_string(c_.tree.nodes[f].ino) + " is a mailboxes.db (" +
                         std::to_string(dbs.front().first) + " mailbox records): put back as the config directory's mailboxes.db";
      if (dbs.size() > 1) note += "; " + std::to_string(dbs.size() - 1) + " other lost mailboxes.db with fewer records left in lost+found";
      c_.damage.push_back({"rehome", note});
    }
    if (!annots.empty() && Child(config_node_, "annotations.db") < 0) {
      const std::int32_t f = annots.front().second;
      Reparent(f, config_node_, "annotations.db");
      ++c_.rehomed_files;
      c_.damage.push_back({"rehome", "lost file inode " + std::to_string(c_.tree.nodes[f].ino) +
                                         " is an annotations.db (" + std::to_string(annots.front().first) +
                                         " keys name mailboxes found here): put back as the config directory's annotations.db"});
    }
  }

  // Places `node` at spool/<rel>, creating missing parents. False if taken.
  bool PlaceInSpool(std::int32_t node, const std::string& rel) {
    auto parts = SplitPath(rel);
    if (parts.empty()) return false;
    std::int32_t cur = spool_node_;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      std::int32_t next = Child(cur, parts[i]);
      if (next >= 0 && c_.tree.nodes[next].type != NodeType::kDir) return false;
      cur = next >= 0 ? next : AddSynthetic(cur, parts[i]);
    }
    if (Child(cur, parts.back()) >= 0) return false;
    Reparent(node, cur, parts.back());
    return true;
  }

  // The directory at spool/<rel>, made (with its missing parents) when it is
  // missing; -1 when a non-directory is in the way.
  std::int32_t MakeInSpool(const std::string& rel) {
    std::int32_t cur = spool_node_;
    for (const auto& p : SplitPath(rel)) {
      const std::int32_t next = Child(cur, p);
      if (next >= 0 && c_.tree.nodes[next].type != NodeType::kDir) return -1;
      cur = next >= 0 ? next : AddSynthetic(cur, p);
    }
    return cur;
  }

  // The directory at spool/<rel>, or -1.
  std::int32_t InSpool(const std::string& rel) const {
    std::int32_t cur = spool_node_;
    for (const auto& p : SplitPath(rel)) {
      cur = Child(cur, p);
      if (cur < 0 || c_.tree.nodes[cur].type != NodeType::kDir) return -1;
    }
    return cur;
  }

  void RehomeDirs() {
    // Shallowest first, so a rehomed legacy INBOX carries its subfolders along.
    std::vector<std::pair<size_t, std::int32_t>> order;
    for (const auto& [dir, mb] : mailboxes_)
      if (!Placed(dir)) order.emplace_back(SplitPath(c_.tree.PathOf(dir)).size(), dir);
    std::sort(order.begin(), order.end());
    for (const auto& [depth, dir] : order) {
      if (Placed(dir)) continue;  // moved along with an ancestor
      const auto& mb = mailboxes_[dir];
      const std::string where = c_.tree.PathOf(dir);
      if (mb.name.empty()) {
        c_.damage.push_back({"rehome", where + ": lost mailbox " + mb.uniqueid +
                                           " has a pre-3.6 header without its name; left in lost+found"});
        continue;
      }
      std::string rel = mr::MailboxRelDir(mb.name, mb.uniqueid, c_.layout, c_.hashimapspool);
      const std::uint32_t ino = c_.tree.nodes[dir].ino;
      if (PlaceInSpool(dir, rel)) {
        ++c_.rehomed_dirs;
        c_.damage.push_back({"rehome", "lost directory inode " + std::to_string(ino) + " (mailbox " +
                                           mb.name + ") put back at " + rel});
        // A lost root that only contained this mailbox is now empty; drop it.
      } else {
        c_.damage.push_back({"rehome", "lost mailbox " + mb.name + " (inode " + std::to_string(ino) +
                                           "): " + rel + " already exists; left in lost+found"});
      }
    }
  }

  // A lost cyrus.header goes to the directory its name and uniqueid give in
  // the spool's layout (uuid: uuid/a/b/<id>; legacy: the folder's path) when
  // that directory has no cyrus.header, creating it when it is missing; or,
  // in any layout, to a directory named after its uniqueid without one. A
  // lost cyrus.index goes back to the folder whose cyrus.header has the CRC32
  // the index header records (offset 96). A lost cyrus.cache goes back to a
  // folder without one whose cyrus.index it matches: the generation and the
  // CRC32 of every checked record (CacheMatchesIndex).
  void RehomeMetadata(const std::vector<std::int32_t>& files) {
    std::unordered_map<std::string, std::int32_t> uuid_dirs;
    for (const auto& d : c_.tree.dirs) {
      const Node& n = c_.tree.nodes[d.node];
      const std::string_view name = c_.tree.Name(d.node);
      if (n.parent >= 0 && name.size() >= 8 && Child(d.node, "cyrus.header") < 0 && Placed(d.node))
        uuid_dirs.emplace(std::string(name), d.node);
    }
    std::set<std::string> placed_ids;
    for (const auto& [dir, mb] : mailboxes_)
      if (Placed(dir)) placed_ids.insert(mb.uniqueid);
    std::vector<std::pair<std::int32_t, std::vector<std::uint8_t>>> indexes;
    std::vector<std::int32_t> others;
    for (auto f : files) {
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[f].ino, kMetaCap, &damaged);
      if (!data.ok() || damaged) continue;
      if (auto h = ParseCyrusHeader(*data); h.ok()) {
        const std::string ino = std::to_string(c_.tree.nodes[f].ino);
        std::int32_t dir = -1;
        std::string how;
        if (auto it = uuid_dirs.find(h->uniqueid); it != uuid_dirs.end()) {
          dir = it->second;
          how = "the directory named after its uniqueid";
        } else if (!h->name.empty() && !placed_ids.count(h->uniqueid)) {
          const std::string rel = mr::MailboxRelDir(h->name, h->uniqueid, c_.layout, c_.hashimapspool);
          dir = InSpool(rel);
          if (dir >= 0 && (Child(dir, "cyrus.header") >= 0 || mailboxes_.count(dir))) {
            dir = -1;
          } else if (dir < 0) {
            dir = MakeInSpool(rel);
          }
          how = "its mailbox's path " + rel;
        }
        if (dir < 0) {
          c_.damage.push_back({"rehome", "lost cyrus.header inode " + ino + " (mailbox " +
                                             (h->name.empty() ? h->uniqueid : h->name) +
                                             "): its folder already has one or cannot be told; left in lost+found"});
          continue;
        }
        Reparent(f, dir, "cyrus.header");
        uuid_dirs.erase(h->uniqueid);
        placed_ids.insert(h->uniqueid);
        mailboxes_[dir] = MailboxInfo{h->name, h->uniqueid};
        header_crc_[Crc32(*data)] = dir;
        ++c_.rehomed_files;
        c_.damage.push_back({"rehome", "lost cyrus.header inode " + ino + " put back in " + c_.tree.PathOf(dir) +
                                           " (" + how + ")"});
      } else if (ParseIndexGuids(*data).ok() && ParseIndexCacheRefs(*data).ok()) {
        indexes.emplace_back(f, std::move(*data));
      } else {
        others.push_back(f);
      }
    }
    for (auto& [f, data] : indexes) {
      const std::uint32_t crc = (std::uint32_t(data[96]) << 24) | (std::uint32_t(data[97]) << 16) |
                                (std::uint32_t(data[98]) << 8) | std::uint32_t(data[99]);
      auto it = header_crc_.find(crc);
      if (it == header_crc_.end() || Child(it->second, "cyrus.index") >= 0) {
        others.push_back(f);  // a cyrus.cache may look like an index; try it as one below
        continue;
      }
      Reparent(f, it->second, "cyrus.index");
      ++c_.rehomed_files;
      c_.damage.push_back({"rehome", "lost cyrus.index inode " + std::to_string(c_.tree.nodes[f].ino) +
                                         " put back in " + c_.tree.PathOf(it->second) +
                                         " (the CRC32 of its cyrus.header matches)"});
    }
    // cyrus.cache: folders with an index and no cache, by generation.
    std::multimap<std::uint32_t, std::pair<std::int32_t, IndexCacheRefs>> want_cache;
    for (const auto& [dir, mb] : mailboxes_) {
      if (!Placed(dir) || Child(dir, "cyrus.cache") >= 0) continue;
      const std::int32_t idx = Child(dir, "cyrus.index");
      if (idx < 0) continue;
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[idx].ino, kMetaCap, &damaged);
      if (!data.ok()) continue;
      auto refs = ParseIndexCacheRefs(*data);
      if (!refs.ok() || refs->records.empty()) continue;
      want_cache.emplace(refs->generation, std::make_pair(dir, std::move(*refs)));
    }
    if (want_cache.empty()) return;
    for (auto f : others) {
      if (c_.tree.nodes[f].parent >= 0) continue;
      const auto head = ReadHead(c_.tree.nodes[f].ino);
      if (!head || !want_cache.count(*head)) continue;
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[f].ino, kLostHashCap, &damaged);
      if (!data.ok() || damaged) continue;
      for (auto [it, end] = want_cache.equal_range(*head); it != end; ++it) {
        const std::int32_t dir = it->second.first;
        if (Child(dir, "cyrus.cache") >= 0 || !CacheMatchesIndex(*data, it->second.second)) continue;
        Reparent(f, dir, "cyrus.cache");
        ++c_.rehomed_files;
        c_.damage.push_back({"rehome", "lost cyrus.cache inode " + std::to_string(c_.tree.nodes[f].ino) +
                                           " put back in " + c_.tree.PathOf(dir) + " (its records have the CRC32s " +
                                           std::to_string(it->second.second.records.size()) +
                                           " records of that folder's cyrus.index give)"});
        break;
      }
    }
  }

  // Up to the first `n` bytes of a live regular file (empty when unreadable).
  std::vector<std::uint8_t> ReadPrefix(std::uint32_t ino, std::size_t n) const {
    std::vector<std::uint8_t> out;
    auto in = ReadInode(fs_, ino);
    if (!in.ok() || !in->live || !IsReg(in->mode)) return out;
    out.assign(std::min<std::uint64_t>(n, in->size), 0);
    std::size_t got = 0;
    ReadFileData(fs_, *in, [&](std::uint64_t off, const std::uint8_t* d, std::size_t len) {
      for (std::size_t i = 0; i < len && off + i < out.size(); ++i) out[off + i] = d[i], ++got;
      return off + len < out.size();
    });
    if (got < out.size()) out.clear();  // a hole or an unreadable start: nothing to judge by
    return out;
  }

  // The first 4 bytes of a file, big-endian (a cyrus.cache's generation).
  std::optional<std::uint32_t> ReadHead(std::uint32_t ino) const {
    const auto b = ReadPrefix(ino, 4);
    if (b.size() < 4) return std::nullopt;
    return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
  }

  void RehomeFiles() {
    std::vector<std::int32_t> files;
    for (auto r : c_.tree.lost)
      if (r >= 0 && c_.tree.nodes[r].parent < 0 && c_.tree.nodes[r].type == NodeType::kFile) files.push_back(r);
    if (files.empty()) return;
    RehomeMetadata(files);
    std::erase_if(files, [&](std::int32_t f) { return c_.tree.nodes[f].parent >= 0; });
    // GUID -> (folder node, uid) from every salvaged cyrus.index in the spool.
    std::unordered_map<std::string, std::pair<std::int32_t, std::uint32_t>> by_guid;
    for (const auto& [dir, mb] : mailboxes_) {
      if (!Placed(dir)) continue;
      std::int32_t idx = Child(dir, "cyrus.index");
      if (idx < 0) continue;
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[idx].ino, kMetaCap, &damaged);
      if (!data.ok()) continue;
      auto recs = ParseIndexGuids(*data);
      if (!recs.ok()) continue;
      for (const auto& r : *recs)
        by_guid.emplace(std::string(reinterpret_cast<const char*>(r.guid.data()), 20),
                        std::make_pair(dir, r.uid));
    }
    if (by_guid.empty()) return;
    for (auto f : files) {
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[f].ino, kLostHashCap, &damaged);
      if (!data.ok() || damaged) continue;
      Digest d = Sha1Of(std::span<const std::uint8_t>(*data));
      auto it = by_guid.find(std::string(reinterpret_cast<const char*>(d.data()), 20));
      if (it == by_guid.end()) continue;
      auto [dir, uid] = it->second;
      const std::string name = std::to_string(uid) + ".";
      if (Child(dir, name) >= 0) continue;
      Reparent(f, dir, name);
      ++c_.rehomed_files;
      c_.damage.push_back({"rehome", "lost file inode " + std::to_string(c_.tree.nodes[f].ino) +
                                         " matched a GUID in " + c_.tree.PathOf(dir) +
                                         "/cyrus.index: put back as " + name});
    }
  }

  // A message file whose name was in a lost directory block but whose inode
  // is reached by another name (singleinstancestore hard links: one inode in
  // several folders) is not lost, so the steps above never see it. For each
  // folder whose listing is incomplete, each uid its cyrus.index lists without
  // a <uid>. file is looked up by GUID in the other folders' indexes; a file
  // found there is linked in as <uid>. when its inode has more links than
  // names found and its SHA1 is that GUID.
  void RelinkMessages() {
    bool any = false;  // a placed folder with an incomplete listing: else nothing to do
    for (const auto& [dir, mb] : mailboxes_) {
      const std::int32_t di = c_.tree.DirIndex(dir);
      if (di >= 0 && !c_.tree.dirs[di].complete && Placed(dir)) { any = true; break; }
    }
    if (!any) return;
    struct Want { std::int32_t dir; std::uint32_t uid; std::string guid; };
    std::vector<Want> want;
    std::vector<std::pair<std::int32_t, std::vector<IndexRecordKey>>> indexes;
    for (const auto& [dir, mb] : mailboxes_) {
      if (!Placed(dir)) continue;
      const std::int32_t idx = Child(dir, "cyrus.index");
      if (idx < 0) continue;
      bool damaged = false;
      auto data = ReadSmallFile(fs_, c_.tree.nodes[idx].ino, kMetaCap, &damaged);
      if (!data.ok()) continue;
      auto recs = ParseIndexGuids(*data);
      if (!recs.ok()) continue;
      const std::int32_t di = c_.tree.DirIndex(dir);
      if (di >= 0 && !c_.tree.dirs[di].complete)
        for (const auto& r : *recs)
          if (Child(dir, std::to_string(r.uid) + ".") < 0)
            want.push_back({dir, r.uid, std::string(reinterpret_cast<const char*>(r.guid.data()), 20)});
      indexes.emplace_back(dir, std::move(*recs));
    }
    if (want.empty()) return;
    std::unordered_map<std::string, std::vector<std::int32_t>> wanted;  // GUID -> indexes into want
    for (std::size_t i = 0; i < want.size(); ++i) wanted[want[i].guid].push_back(static_cast<std::int32_t>(i));
    // Candidate files: <uid>. of another folder whose index gives it a wanted GUID.
    std::vector<std::pair<std::int32_t, std::int32_t>> cand;  // (want index, file node)
    for (const auto& [dir, recs] : indexes)
      for (const auto& r : recs) {
        auto it = wanted.find(std::string(reinterpret_cast<const char*>(r.guid.data()), 20));
        if (it == wanted.end()) continue;
        const std::int32_t f = Child(dir, std::to_string(r.uid) + ".");
        if (f < 0 || c_.tree.nodes[f].type != NodeType::kFile) continue;
        for (auto w : it->second)
          if (want[w].dir != dir) cand.emplace_back(w, f);
      }
    if (cand.empty()) return;
    std::unordered_map<std::uint32_t, std::uint32_t> names;  // inode -> names found
    for (const auto& [w, f] : cand) names[c_.tree.nodes[f].ino] = 0;
    for (std::size_t k = 0; k < c_.tree.nodes.size(); ++k) {
      c_.Tick();
      const Node& n = c_.tree.nodes[k];
      if (n.type != NodeType::kFile) continue;
      if (auto it = names.find(n.ino); it != names.end()) ++it->second;
    }
    std::vector<bool> done(want.size(), false);
    for (const auto& [w, f] : cand) {
      if (done[w]) continue;
      const Want& x = want[w];
      const std::uint32_t ino = c_.tree.nodes[f].ino;
      auto in = ReadInode(fs_, ino);
      if (!in.ok() || !in->live || in->links <= names[ino]) continue;
      bool damaged = false;
      auto data = ReadSmallFile(fs_, ino, kLostHashCap, &damaged);
      if (!data.ok() || damaged) continue;
      Digest d = Sha1Of(std::span<const std::uint8_t>(*data));
      if (std::string(reinterpret_cast<const char*>(d.data()), 20) != x.guid) continue;
      const std::string name = std::to_string(x.uid) + ".";
      if (Child(x.dir, name) >= 0) continue;
      const std::int32_t k = c_.tree.Add(ino, x.dir, NodeType::kFile, false, name);
      children_added_[std::make_pair(x.dir, name)] = k;
      ++names[ino];
      done[w] = true;
      ++c_.rehomed_files;
      c_.damage.push_back({"rehome", c_.tree.PathOf(x.dir) + "/" + name + ": its name was in a lost directory block; "
                                     "linked to inode " + std::to_string(ino) + " (" + c_.tree.PathOf(f) +
                                     "), which has " + std::to_string(in->links) + " links but fewer names found and "
                                     "whose SHA1 is the GUID the folder's cyrus.index gives uid " + std::to_string(x.uid)});
    }
  }

  // Output names given out so far to the children of one parent: two
  // children of one parent with one sanitised name would be one path.
  // (Different parents have different paths, so this is the same as
  // comparing whole paths.) Open addressing over node ids, 4 bytes a slot at
  // most half full (a std::unordered_set of names cost ~40 a name).
  class TakenNames {
   public:
    TakenNames(const Catalog& c, std::size_t n) : c_(c) {
      std::size_t cap = 16;
      while (cap < 2 * n + 2) cap <<= 1;
      slots_.assign(cap, -1);
    }
    bool Has(std::string_view name) const {
      for (std::size_t i = Hash(name);; i = (i + 1) & (slots_.size() - 1)) {
        const std::int32_t k = slots_[i];
        if (k < 0) return false;
        if (c_.OutName(k) == name) return true;
      }
    }
    // REQUIRES: fewer than n inserts in all; k's output name is set.
    void Insert(std::int32_t k) {
      std::size_t i = Hash(c_.OutName(k));
      while (slots_[i] >= 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = k;
    }

   private:
    std::size_t Hash(std::string_view name) const {
      const std::size_t h = std::hash<std::string_view>{}(name) * 0x9e3779b97f4a7c15ull;
      return (h ^ (h >> 29)) & (slots_.size() - 1);
    }
    const Catalog& c_;
    std::vector<std::int32_t> slots_;
  };

  // The children of a parent not named yet, and the names given to the
  // others (made at its first extracted child, dropped after its last child).
  struct Siblings {
    std::uint32_t left = 0;
    std::unique_ptr<TakenNames> taken;
  };

  Status SetOut(std::int32_t k, std::string_view name, bool root) {
    if (!root && name == c_.tree.Name(k)) {  // most names: nothing to store
      c_.out_name[k] = Catalog::kOutSame;
      return {};
    }
    if (c_.out_names.size() + name.size() + 1 >= Catalog::kOutRoot)
      return Error{Code::kUnsupported, "salvage: more than 2 GiB of output names"};
    c_.out_name[k] = static_cast<std::uint32_t>(c_.out_names.size()) | (root ? Catalog::kOutRoot : 0);
    c_.out_names.append(name).push_back('\0');
    return {};
  }

  // Names every node in node order, each after its ancestors. Only the
  // parents with children both named and not yet named hold a TakenNames:
  // the walker's runs make that about one directory at a time.
  Status AssignPaths() {
    auto& nodes = c_.tree.nodes;
    const auto n = static_cast<std::int32_t>(nodes.size());
    c_.out_name.resize(static_cast<std::size_t>(n), Catalog::kNoOut);
    c_.out_names.clear();
    group_.resize(static_cast<std::size_t>(n), kGroupNone);
    c_.group_names = {"(config)", "(rest)"};
    std::map<std::string, std::int32_t> user_group;
    std::unordered_map<std::int32_t, Siblings> siblings;  // by parent
    {
      std::int32_t last = -1;
      Siblings* cur = nullptr;
      for (std::int32_t i = 0; i < n; ++i) {
        const std::int32_t p = nodes[i].parent;
        if (p < 0) continue;
        if (p != last) cur = &siblings[last = p];
        ++cur->left;
        c_.Tick();
      }
    }
    // Nodes named before the loop reached them (an ancestor after its
    // descendant in node order: rehomed and re-attached roots); all nodes
    // below i are named.
    std::unordered_set<std::int32_t> early;
    auto done = [&](std::int32_t k, std::int32_t i) { return k < i || early.count(k) != 0; };
    std::vector<std::int32_t> chain;
    for (std::int32_t i = 0; i < n; ++i) {
      c_.Tick();
      if (early.erase(i)) continue;
      // Climb to the nearest resolved ancestor, then resolve downwards.
      chain.clear();
      std::int32_t cur = i;
      while (cur >= 0 && !done(cur, i) && chain.size() <= static_cast<size_t>(n)) {
        chain.push_back(cur);
        if (cur == spool_node_ || cur == config_node_) break;
        cur = nodes[cur].parent;
      }
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        std::int32_t k = *it;
        const Node& nd = nodes[k];
        if (k > i) early.insert(k);
        Status st;
        Siblings* sib = nullptr;
        if (nd.parent >= 0) {
          auto s = siblings.find(nd.parent);
          if (s != siblings.end()) sib = &s->second;
        }
        if (k == spool_node_) {
          st = SetOut(k, "spool", true);
          group_[k] = kGroupRest;
        } else if (k == config_node_) {
          st = SetOut(k, "conf", true);
          group_[k] = kGroupConfig;
        } else if (nd.parent < 0) {
          if (k == 0) continue;  // the fs root outside the spool: not extracted
          const std::string path = "lost+found/#" + std::to_string(nd.ino);
          st = SetOut(k, path, true);
          group_[k] = kGroupRest;
          c_.lost_found.push_back({path, nd.ino,
                                   std::string(nd.type == NodeType::kDir ? "directory" : "file") +
                                       " not reachable from the root and not placeable"});
        } else if (c_.Extracted(nd.parent)) {
          if (sib && !sib->taken) sib->taken = std::make_unique<TakenNames>(c_, sib->left);
          bool unsafe = false;
          const std::string_view raw_name = c_.tree.Name(k);
          std::string name = SanitizeName(raw_name, &unsafe);
          if (sib && sib->taken->Has(name)) {
            // Two entries with one name (a damaged directory, or a name equal to another's
            // encoded form): extracting both under it would lose the first one's bytes.
            const std::string parent_out = c_.OutPath(nd.parent);
            std::string alt = name + "%mr-dup-" + std::to_string(nd.ino);
            if (sib->taken->Has(alt)) alt += "-" + std::to_string(k);
            c_.damage.push_back({"name_collision", parent_out + "/" + alt + ": a second entry named like " +
                                                       parent_out + "/" + name});
            name = std::move(alt);
          }
          st = SetOut(k, name, false);
          if (unsafe && st.ok()) {
            const auto* raw = reinterpret_cast<const std::uint8_t*>(raw_name.data());
            c_.damage.push_back({"unsafe_name", c_.OutPath(k) + ": stored under an encoded name; the entry's "
                                 "name in hex: " + ToHex(std::span<const std::uint8_t>(raw, raw_name.size()))});
          }
          if (st.ok() && sib) sib->taken->Insert(k);
          group_[k] = group_[nd.parent];
        }
        if (sib && --sib->left == 0) siblings.erase(nd.parent);  // its last child: names not needed
        if (!st.ok()) return st;
        if (group_[k] != kGroupNone && group_[k] != kGroupConfig && nd.type == NodeType::kDir) {
          auto mb = mailboxes_.find(k);
          if (mb != mailboxes_.end()) {
            std::string user = mr::UserOf(mb->second.name);
            if (!user.empty()) {
              auto [ut, inserted] = user_group.emplace(user, 0);
              if (inserted) {
                ut->second = static_cast<std::int32_t>(c_.group_names.size());
                c_.group_names.push_back(user);
              }
              group_[k] = ut->second;
            }
          }
        }
      }
    }
    c_.out_names.shrink_to_fit();
    return c_.space->status();
  }

  // Each group's extracted nodes, ascending, one group after another.
  void BuildMembers() {
    const auto n = static_cast<std::int32_t>(c_.tree.nodes.size());
    const std::size_t groups = c_.group_names.size();
    c_.member_start.assign(groups + 1, 0);
    for (std::int32_t i = 0; i < n; ++i) {
      (c_.tree.nodes[i].type == NodeType::kDir ? c_.dir_nodes : c_.other_nodes)++;
      if (group_[i] >= 0 && c_.Extracted(i)) ++c_.member_start[static_cast<std::size_t>(group_[i]) + 1];
      c_.Tick();
    }
    for (std::size_t g = 0; g < groups; ++g) c_.member_start[g + 1] += c_.member_start[g];
    std::vector<std::uint64_t> next(c_.member_start.begin(), c_.member_start.end() - 1);
    c_.member_nodes.grow_zeroed(c_.member_start.back());
    for (std::int32_t i = 0; i < n; ++i) {
      if (group_[i] >= 0 && c_.Extracted(i)) c_.member_nodes[next[static_cast<std::size_t>(group_[i])]++] = i;
      c_.Tick();
    }
  }

  ext2_filsys fs_;
  const CatalogOptions& opts_;
  Catalog c_;
  SpillArray<ChildEntry> children_;
  std::vector<ChildEntry> strays_;   // children outside the sorted runs, sorted
  SpillArray<std::int32_t> group_;   // per node, until members are built
  std::map<std::pair<std::int32_t, std::string>, std::int32_t> children_added_;
  std::map<std::int32_t, MailboxInfo> mailboxes_;
  std::unordered_map<std::uint32_t, std::int32_t> header_crc_;  // CRC32 of cyrus.header -> folder
  std::unordered_map<std::uint32_t, std::int32_t> dir_by_ino_;  // directory inode -> node (walked dirs)
  std::int32_t spool_node_ = 0;
  std::int32_t config_node_ = -1;
};

}  // namespace

void Catalog::OutPathInto(std::int32_t node, std::string* out) const {
  out->clear();
  if (node < 0 || !Extracted(node)) return;
  std::size_t len = 0;
  for (std::int32_t k = node;; k = tree.nodes[k].parent) {
    len += OutName(k).size();
    if (OutRoot(k)) break;
    ++len;  // '/'
  }
  out->resize(len);
  std::size_t pos = len;
  for (std::int32_t k = node;; k = tree.nodes[k].parent) {
    const std::string_view name = OutName(k);
    pos -= name.size();
    std::memcpy(out->data() + pos, name.data(), name.size());
    if (OutRoot(k)) break;
    (*out)[--pos] = '/';
  }
}

std::string Catalog::OutPath(std::int32_t node) const {
  std::string s;
  OutPathInto(node, &s);
  return s;
}

Result<std::vector<std::uint8_t>> ReadSmallFile(ext2_filsys fs, std::uint32_t ino, std::uint64_t cap,
                                                bool* damaged) {
  auto in = ReadInode(fs, ino);
  if (!in.ok()) return in.error();
  if (!in->live || !IsReg(in->mode))
    return Error{Code::kCorrupt, "inode " + std::to_string(ino) + " is not a live file"};
  if (in->size > cap)
    return Error{Code::kCorrupt, "inode " + std::to_string(ino) + " larger than " + std::to_string(cap)};
  std::vector<std::uint8_t> out(in->size);
  FileReadResult r = ReadFileData(fs, *in, [&](std::uint64_t off, const std::uint8_t* d, std::size_t n) {
    if (off <= out.size() && n <= out.size() - off) std::memcpy(out.data() + off, d, n);
    return true;
  });
  *damaged = !r.damaged.empty();
  return out;
}

Result<Catalog> BuildCatalog(ext2_filsys fs, const CatalogOptions& opts) {
  return Builder(fs, opts).Run();
}

}  // namespace mr::salvage
