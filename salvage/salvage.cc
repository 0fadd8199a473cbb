#include "salvage/salvage.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"
#include "common/parallel.h"
#include "common/sha1.h"

namespace mr::salvage {
namespace {

Result<std::string> Sha256Fd(int fd) {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Error{Code::kInternal, "sha256: cannot initialise"};
  std::vector<unsigned char> buf(1 << 20);
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("sha256 of the source", errno);
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
    off += n;
  }
  unsigned char md[32];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return ToHex(std::span<const std::uint8_t>(md, len));
}

// The parts of `r` (source bytes) that no journal copy replaced; adds the
// replaced bytes to *replaced. `fb` is sorted by block.
std::vector<ByteRange> NotFromJournal(const ByteRange& r, const std::vector<JournalCopy>& fb, std::uint64_t bs,
                                      std::uint64_t* replaced) {
  std::vector<ByteRange> out;
  std::uint64_t pos = r.offset;
  auto it = std::lower_bound(fb.begin(), fb.end(), r.offset / bs,
                             [](const JournalCopy& c, std::uint64_t b) { return c.fs_block < b; });
  for (; it != fb.end() && it->fs_block * bs < r.end(); ++it) {
    const std::uint64_t s = std::max(pos, it->fs_block * bs), e = std::min(r.end(), (it->fs_block + 1) * bs);
    if (s >= e) continue;
    if (s > pos) out.push_back({pos, s - pos});
    *replaced += e - s;
    pos = e;
  }
  if (pos < r.end()) out.push_back({pos, r.end() - pos});
  return out;
}

}  // namespace

Salvager::~Salvager() = default;

Result<std::unique_ptr<Salvager>> Salvager::Open(const SalvageOptions& opts) {
  std::unique_ptr<Salvager> s(new Salvager(opts));
  Source::Options so;
  so.path = opts.source;
  so.read_fn = opts.source_read;
  if (opts.badmap_path) {
    auto bm = BadMap::Load(*opts.badmap_path);
    if (!bm.ok()) return bm.error();
    so.badmap = std::move(*bm);
  }
  auto src = Source::Open(std::move(so));
  if (!src.ok()) return src.error();
  s->src_ = *src;
  VolumeOptions vo;
  vo.superblock = opts.superblock;
  vo.blocksize = opts.blocksize;
  vo.journal = opts.journal;
  auto plan = Volume::Plan(s->src_, vo);
  if (!plan.ok()) return plan.error();
  s->plan_ = std::move(plan->first);
  s->info_ = std::move(plan->second);
  int jobs = opts.jobs > 0 ? opts.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  s->opts_.jobs = jobs;
  std::vector<Volume> handles;
  for (int i = 0; i < jobs + 1; ++i) {  // one per worker, one for the prefetcher
    auto v = Volume::Open(s->src_, s->plan_);
    if (!v.ok()) return v.error();
    handles.push_back(std::move(*v));
  }
  s->pool_ = std::make_unique<HandlePool>(std::move(handles));
  if (opts.hash_source) {
    auto h = Sha256Fd(s->src_->fd());
    if (h.ok()) s->sha256_before_ = *h;
  }
  return s;
}

Status Salvager::Scan() {
  if (scanned_) return {};
  std::string spill = opts_.spill_dir;
  if (spill.empty() && !opts_.dry_run) spill = opts_.out_dir;
  if (spill.empty()) {
    const char* t = std::getenv("TMPDIR");
    spill = t && *t ? t : "/tmp";
  }
  CatalogOptions co;
  co.spool_path = opts_.spool_path;
  co.config_path = opts_.config_path;
  co.spill = opts_.catalog_spill;
  co.spill.dir = spill;
  co.spill.create_dir = !opts_.dry_run && spill == opts_.out_dir;  // the output is opened after the scan
  Volume* v = pool_->Acquire();
  auto cat = BuildCatalog(v->fs(), co);
  pool_->Release(v);
  if (!cat.ok()) return cat.error();
  cat_ = std::move(*cat);
  files_ = std::make_unique<FileStore>(spill, opts_.spill_chunk);
  linked_ = std::make_unique<LinkedFiles>(spill);
  group_done_.assign(cat_.group_names.size(), 0);
  snapshot_.groups_total = cat_.group_names.size();
  if (!opts_.out_dir.empty()) {
    auto out = OutputTree::Open(opts_.out_dir, opts_.dry_run);
    if (!out.ok()) return out.error();
    out_ = std::move(*out);
    const std::string prev = opts_.out_dir + "/salvage.json";
    if (!opts_.dry_run && ::access(prev.c_str(), R_OK) == 0) {
      // An unreadable or foreign manifest only means no resume: every file is read again.
      auto p = PreviousIndex::Load(prev, spill);
      if (p.ok() && (*p)->files() > 0) previous_ = std::move(*p);
    }
  } else {
    auto out = OutputTree::Open("", true);
    out_ = std::move(*out);
  }
  scanned_ = true;
  return {};
}

std::vector<std::string> Salvager::Users() const {
  std::vector<std::string> u(cat_.group_names.begin() + std::min<size_t>(kFirstUserGroup, cat_.group_names.size()),
                             cat_.group_names.end());
  std::sort(u.begin(), u.end());
  return u;
}

bool Salvager::HasUser(const std::string& user) const {
  return std::find(cat_.group_names.begin() + std::min<size_t>(kFirstUserGroup, cat_.group_names.size()),
                   cat_.group_names.end(), user) != cat_.group_names.end();
}

void Salvager::PlanProgress(const std::vector<std::string>& users, bool with_rest) {
  auto count = [&](size_t g) {
    std::uint64_t n = 0;
    for (auto node : cat_.Members(static_cast<std::int32_t>(g))) {
      n += cat_.tree.nodes[node].type != NodeType::kDir;
      cat_.Tick();
    }
    return n;
  };
  snapshot_.files_total = 0;
  snapshot_.groups_total = 0;
  for (size_t g = 0; g < cat_.group_names.size(); ++g) {
    const bool user_group = g >= static_cast<size_t>(kFirstUserGroup);
    if ((user_group && std::find(users.begin(), users.end(), cat_.group_names[g]) != users.end()) ||
        (!user_group && with_rest)) {
      snapshot_.files_total += count(g);
      ++snapshot_.groups_total;
    }
  }
}

Status Salvager::ExtractGroupOnce(std::int32_t group, ProgressSink* progress, ExtractDelta* delta) {
  if (!scanned_) return Error{Code::kInternal, "salvage: Extract before Scan"};
  if (group < 0 || static_cast<size_t>(group) >= group_done_.size())
    return Error{Code::kNotFound, "salvage: no such group"};
  if (group_done_[group]) return {};
  ExtractEnv env;
  env.cat = &cat_;
  env.out = out_.get();
  env.pool = pool_.get();
  env.jobs = opts_.jobs;
  env.files = files_.get();
  env.previous = previous_.get();
  env.linked = linked_.get();
  env.progress = progress;
  env.snapshot = &snapshot_;
  GroupResult res;
  Status st = ExtractGroup(group, env, &res);
  if (st.ok()) st = files_->Seal();
  if (!st.ok()) {
    files_->Rollback();  // the group is not done: none of its records
    return st;
  }
  if (delta) {
    delta->dirs = res.dirs;
    delta->damaged_files = std::move(res.damaged_files);
  }
  auto move_into = [](auto& dst, auto& src) {
    dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
  };
  move_into(manifest_.dirs, res.dirs);
  move_into(manifest_.symlinks, res.symlinks);
  move_into(extract_damage_, res.damage);
  group_done_[group] = 1;
  ++snapshot_.groups_done;
  if (progress) progress->Update(snapshot_);
  // Keep the manifest current for resume, but not at the cost of rewriting a
  // 200,000-file manifest after each of thousands of small users.
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (group >= kFirstUserGroup && now - last_manifest_write_ >= 10) {
    last_manifest_write_ = now;
    return WriteManifest();
  }
  return {};
}

SpillArray<std::int32_t> Salvager::GroupOfNodes() const {
  SpillArray<std::int32_t> group(cat_.space);
  group.resize(cat_.tree.nodes.size(), kGroupNone);
  for (std::size_t g = 0; g < cat_.group_names.size(); ++g)
    for (auto node : cat_.Members(static_cast<std::int32_t>(g))) {
      group[static_cast<std::size_t>(node)] = static_cast<std::int32_t>(g);
      cat_.Tick();
    }
  return group;
}

std::vector<FolderDirGroup> Salvager::FolderDirs() const {
  std::vector<FolderDirGroup> out;
  if (!scanned_) return out;
  const auto group = GroupOfNodes();
  std::int32_t last = -1;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(cat_.tree.nodes.size()); ++i) {
    cat_.Tick();
    const Node& n = cat_.tree.nodes[i];
    if (n.type != NodeType::kFile || n.parent < 0 || n.parent == last) continue;
    const std::string_view name = cat_.tree.Name(i);
    if (name != "cyrus.header" && name != "cyrus.index") continue;
    const std::int32_t g = group[static_cast<std::size_t>(n.parent)];
    if (!cat_.Extracted(n.parent) || (g != kGroupRest && g < kFirstUserGroup)) continue;
    std::string path = cat_.OutPath(n.parent);
    if (path.rfind("spool/", 0) != 0) continue;  // lost+found: no folder of the spool
    last = n.parent;
    out.push_back({n.parent, std::move(path), g == kGroupRest ? std::string() : cat_.group_names[g]});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.node == b.node; }),
            out.end());
  return out;
}

Status Salvager::AssignFolders(const std::vector<std::pair<std::int32_t, std::string>>& moves) {
  if (!scanned_) return Error{Code::kInternal, "salvage: AssignFolders before Scan"};
  if (moves.empty()) return {};
  auto group = GroupOfNodes();
  auto group_of_user = [&](const std::string& user) -> std::int32_t {
    if (user.empty()) return kGroupRest;
    for (size_t g = kFirstUserGroup; g < cat_.group_names.size(); ++g)
      if (cat_.group_names[g] == user) return static_cast<std::int32_t>(g);
    return kGroupNone;
  };
  // Checked before anything changes: a group already extracted cannot gain or lose a folder.
  std::unordered_map<std::int32_t, std::string> to_user;  // moved directory -> user
  for (const auto& [node, user] : moves) {
    if (node < 0 || static_cast<std::size_t>(node) >= group.size() || group[node] < kGroupRest)
      return Error{Code::kInternal, "salvage: AssignFolders: not a folder directory of the spool"};
    const std::int32_t from = group[node], to = group_of_user(user);
    if (from == to) continue;
    if (group_done_[from] || (to != kGroupNone && group_done_[to]))
      return Error{Code::kInternal, "salvage: AssignFolders: " + cat_.OutPath(node) + " or user " + user +
                                        " is already extracted"};
    to_user[node] = user;
  }
  if (to_user.empty()) return {};
  std::unordered_map<std::int32_t, std::int32_t> to_group;  // moved directory -> group
  for (const auto& [node, user] : to_user) {
    std::int32_t to = group_of_user(user);
    if (to == kGroupNone) {
      to = static_cast<std::int32_t>(cat_.group_names.size());
      cat_.group_names.push_back(user);
      group_done_.push_back(0);
      ++snapshot_.groups_total;
    }
    to_group[node] = to;
  }
  // A node goes with the nearest moved directory above it (or itself) when
  // every node on the way shares its group: nested folders of another group stay.
  const auto n = static_cast<std::int32_t>(cat_.tree.nodes.size());
  std::vector<std::pair<std::int32_t, std::int32_t>> changes;
  for (std::int32_t i = 0; i < n; ++i) {
    cat_.Tick();
    const std::int32_t g = group[i];
    if (g < kGroupRest) continue;
    for (std::int32_t cur = i, guard = n; cur >= 0 && group[cur] == g && guard-- > 0; cur = cat_.tree.nodes[cur].parent) {
      auto it = to_group.find(cur);
      if (it == to_group.end()) continue;
      changes.emplace_back(i, it->second);
      break;
    }
  }
  for (const auto& [i, g] : changes) group[i] = g;
  // The member lists again, as the catalog built them: each group's nodes ascending.
  const std::size_t groups = cat_.group_names.size();
  std::vector<std::uint64_t> start(groups + 1, 0);
  for (std::int32_t i = 0; i < n; ++i)
    if (group[i] >= 0) ++start[static_cast<std::size_t>(group[i]) + 1];
  for (std::size_t g = 0; g < groups; ++g) start[g + 1] += start[g];
  std::vector<std::uint64_t> next(start.begin(), start.end() - 1);
  SpillArray<std::int32_t> members(cat_.space);
  members.grow_zeroed(start.back());
  for (std::int32_t i = 0; i < n; ++i)
    if (group[i] >= 0) members[next[static_cast<std::size_t>(group[i])]++] = i;
  cat_.member_nodes = std::move(members);
  cat_.member_start = std::move(start);
  return cat_.space->status();
}

Status Salvager::ExtractUser(const std::string& user, ProgressSink* progress, ExtractDelta* delta) {
  for (size_t g = kFirstUserGroup; g < cat_.group_names.size(); ++g)
    if (cat_.group_names[g] == user) return ExtractGroupOnce(static_cast<std::int32_t>(g), progress, delta);
  return Error{Code::kNotFound, "user " + user + ": not found in the salvaged spool"};
}

Status Salvager::ExtractConfig(ProgressSink* progress) { return ExtractGroupOnce(kGroupConfig, progress); }
Status Salvager::ExtractRest(ProgressSink* progress, ExtractDelta* delta) {
  return ExtractGroupOnce(kGroupRest, progress, delta);
}

const Manifest& Salvager::BuildManifest() {
  Manifest& m = manifest_;
  m.source_path = src_->path();
  m.source_size = src_->size();
  m.sha256_before = sha256_before_;
  m.fs = info_;
  m.damage = info_.damage;
  m.damage.insert(m.damage.end(), cat_.damage.begin(), cat_.damage.end());
  m.damage.insert(m.damage.end(), extract_damage_.begin(), extract_damage_.end());
  m.journal_fallback.clear();
  if (plan_.journal_overlay) m.journal_fallback = plan_.journal_overlay->fallback_blocks();
  std::uint64_t replaced = 0;
  for (const auto& u : src_->Unreadable())
    for (const auto& r : NotFromJournal(u, m.journal_fallback, std::max(1u, info_.blocksize), &replaced))
      m.damage.push_back({"unreadable", "bytes " + std::to_string(r.offset) + "+" + std::to_string(r.length) +
                                            " of the source could not be read (zero-filled)"});
  if (!m.journal_fallback.empty())
    m.damage.push_back({"journal_fallback", std::to_string(replaced) + " unreadable bytes in " +
                                                std::to_string(m.journal_fallback.size()) +
                                                " filesystem block(s) were served from older journal copies "
                                                "(filesystem.journal_fallback: [block, transaction]); "
                                                "they may predate the lost blocks"});
  if (plan_.journal_overlay) {
    if (std::string note = plan_.journal_overlay->journal().ScavengeNote(); !note.empty())
      m.damage.push_back({"journal_fallback", note + "; blocks whose only copies lie beyond stay unreadable"});
  }
  m.spool_path = cat_.spool_path;
  m.config_path = cat_.config_path;
  m.users.clear();
  for (size_t g = kFirstUserGroup; g < group_done_.size(); ++g)
    m.users.push_back({cat_.group_names[g], group_done_[g] != 0});
  m.lost_found.clear();
  m.rest_done = group_done_.size() > static_cast<size_t>(kGroupRest) && group_done_[kGroupRest];
  if (m.rest_done) m.lost_found = cat_.lost_found;
  m.files = files_.get();  // sorted by the store
  // Groups append records in inode order. --jobs threads sort (path, index)
  // pairs rather than the records themselves, then the records are moved
  // once into place.
  InArena(std::max(1, opts_.jobs), [&] {
    auto sort_by_path = [](auto& v) {
      auto by_path = [](auto& a, auto& b) { return a.path < b.path; };
      if (std::is_sorted(v.begin(), v.end(), by_path)) return;
      std::vector<std::pair<std::string_view, std::uint32_t>> keys(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) keys[i] = {v[i].path, static_cast<std::uint32_t>(i)};
      ParallelSortKeys(keys);  // equal paths (none expected) keep their order
      // Apply the permutation in place, cycle by cycle (no second copy of the
      // records: that would add ~30 MiB to the peak for 200,000 files).
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (keys[i].second == i) continue;
        auto tmp = std::move(v[i]);
        std::size_t j = i;
        for (;;) {
          const std::size_t from = keys[j].second;
          keys[j].second = static_cast<std::uint32_t>(j);
          if (from == i) break;
          v[j] = std::move(v[from]);
          j = from;
        }
        v[j] = std::move(tmp);
      }
    };
    sort_by_path(m.dirs);
    sort_by_path(m.symlinks);
    sort_by_path(m.lost_found);
  });
  std::sort(m.users.begin(), m.users.end(), [](auto& a, auto& b) { return a.user < b.user; });
  return m;
}

Status Salvager::WriteManifest() {
  if (opts_.dry_run || opts_.out_dir.empty()) return {};
  return salvage::WriteManifest(BuildManifest(), opts_.out_dir + "/salvage.json");
}

bool Salvager::NeedsAttention() {
  const Manifest& m = BuildManifest();
  auto t = m.ComputeTotals();
  return t.damaged_files || t.incomplete_dirs || t.lost_found || !m.damage.empty();
}

Result<std::vector<std::string>> ReadUserList(const std::string& path) {
  auto data = ReadFile(path, 64ull << 20);
  if (!data.ok()) return Error{Code::kInvalidArgument, path + ": " + data.error().message};
  std::vector<std::string> out;
  std::string line;
  for (std::uint8_t ch : *data) {
    if (ch == '\n') {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      size_t b = line.find_first_not_of(" \t");
      if (b != std::string::npos && line[b] != '#') out.push_back(UserFromListEntry(line.substr(b)));
      line.clear();
    } else {
      line.push_back(static_cast<char>(ch));
    }
  }
  size_t b = line.find_first_not_of(" \t\r");
  if (b != std::string::npos && line[b] != '#') out.push_back(UserFromListEntry(line.substr(b)));
  return out;
}

}  // namespace mr::salvage
