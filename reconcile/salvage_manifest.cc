#include "reconcile/salvage_manifest.h"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <utility>
#include <nlohmann/json.hpp>

#include "common/cyrus_layout.h"


namespace mr::reconcile {

bool SalvageManifest::DirComplete(const std::string& dir) const {
  if (incomplete_dirs.empty()) return true;
  std::string cur = dir;
  while (!cur.empty()) {
    if (incomplete_dirs.count(cur)) return false;
    auto slash = cur.rfind('/');
    if (slash == std::string::npos) break;
    cur.resize(slash);
  }
  return true;
}

bool SalvageManifest::AnyIncompleteUnder(const std::string& dir) const {
  auto it = incomplete_dirs.lower_bound(dir);
  for (; it != incomplete_dirs.end(); ++it) {
    if (it->compare(0, dir.size(), dir) != 0) break;
    if (it->size() == dir.size() || (*it)[dir.size()] == '/') return true;
  }
  return false;
}

const std::string* SalvageManifest::Damage(const std::string& path) const {
  auto it = damaged_files.find(path);
  return it == damaged_files.end() ? nullptr : &it->second;
}

bool SalvageManifest::UserDone(const std::string& user) const {
  if (user == kSharedUnit) return rest_done;
  auto it = users_done.find(user);
  return it == users_done.end() || it->second;
}

std::string DescribeDamagedRanges(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  if (ranges.empty()) return "damaged (salvage.json)";
  std::string out = "damaged bytes at";
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (i == 4) {
      out += " ...";
      break;
    }
    out += " " + std::to_string(ranges[i].first) + "+" + std::to_string(ranges[i].second);
  }
  return out;
}

namespace {

std::string DescribeDamage(const nlohmann::json& ranges) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> v;
  for (const auto& r : ranges) {
    if (!r.is_array() || r.size() != 2 || !r[0].is_number_unsigned() || !r[1].is_number_unsigned()) continue;
    v.emplace_back(r[0].get<std::uint64_t>(), r[1].get<std::uint64_t>());
  }
  return DescribeDamagedRanges(v);
}

}  // namespace

namespace {
template <class Input>
Result<SalvageManifest> ParseManifest(Input&& input, const std::string& what) {
  SalvageManifest m;
  m.present = true;
  using json = nlohmann::json;
  // Keep only what matters: drop intact files[] entries as they are parsed so
  // memory follows the damage, not the store size.
  int depth_in_files = -1;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    if (ev == json::parse_event_t::key && depth == 1 && parsed == "files") depth_in_files = 1;
    if (ev == json::parse_event_t::object_end && depth_in_files == 1 && depth == 2) {
      auto it = parsed.find("damaged");
      bool damaged = it != parsed.end() && it->is_array() && !it->empty();
      if (!damaged) return false;
      auto p = parsed.find("path");
      if (p == parsed.end() || !p->is_string()) return false;
      m.damaged_files[p->get<std::string>()] = DescribeDamage(*it);
      return false;
    }
    if (ev == json::parse_event_t::array_end && depth == 1) depth_in_files = -1;
    return true;
  };
  json doc = json::parse(std::forward<Input>(input), cb, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Error{Code::kCorrupt, what + ": not valid JSON"};
  if (auto d = doc.find("dirs"); d != doc.end() && d->is_array()) {
    for (const auto& e : *d) {
      if (!e.is_object()) continue;
      auto p = e.find("path");
      auto c = e.find("complete");
      if (p == e.end() || !p->is_string()) continue;
      if (c != e.end() && c->is_boolean() && !c->get<bool>()) m.incomplete_dirs.insert(p->get<std::string>());
    }
  }
  if (auto r = doc.find("rest_done"); r != doc.end() && r->is_boolean()) m.rest_done = r->get<bool>();
  if (auto u = doc.find("users"); u != doc.end() && u->is_array()) {
    for (const auto& e : *u) {
      if (!e.is_object()) continue;
      auto n = e.find("user");
      auto d = e.find("done");
      if (n == e.end() || !n->is_string()) continue;
      m.users_done[n->get<std::string>()] = d == e.end() || !d->is_boolean() || d->get<bool>();
    }
  }
  return m;
}
}  // namespace

Result<SalvageManifest> ParseSalvageManifest(const std::string& text, const std::string& what) {
  return ParseManifest(text, what);
}

Result<SalvageManifest> ReadSalvageManifest(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return SalvageManifest{};
    return ErrnoError(path, errno);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(path, errno);
  return ParseManifest(in, path);
}

}  // namespace mr::reconcile
