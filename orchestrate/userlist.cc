#include "orchestrate/userlist.h"

#include <charconv>
#include <cstdlib>

#include "common/cyrus_layout.h"
#include "common/fsutil.h"

namespace mr::orchestrate {

std::vector<std::string> ParseUserLines(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view line = text.substr(i, j - i);
    i = j + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    out.emplace_back(line);
  }
  return out;
}

Result<std::vector<std::string>> ReadUserList(const std::string& path) {
  auto data = ReadFile(path, 256ull << 20);
  if (!data) return Error{Code::kInvalidArgument, "--users " + path + ": " + data.error().message};
  return ParseUserLines(std::string_view(reinterpret_cast<const char*>(data->data()), data->size()));
}

std::vector<std::string> ParseUserNames(std::string_view text) {
  std::vector<std::string> out = ParseUserLines(text);
  for (auto& u : out) u = UserFromListEntry(u);
  return out;
}

Result<std::vector<std::string>> ReadUserNames(const std::string& path) {
  auto l = ReadUserList(path);
  if (!l) return l.error();
  for (auto& u : *l) u = UserFromListEntry(u);
  return l;
}

static bool ParseUnsigned(std::string_view s, unsigned* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

static const char* FirstEnv(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return v;
  return nullptr;
}

Result<Shard> ParseShard(std::string_view spec) {
  Shard s;
  std::string_view k_part, n_part;
  auto slash = spec.find('/');
  if (slash == std::string_view::npos) {
    k_part = spec;
  } else {
    k_part = spec.substr(0, slash);
    n_part = spec.substr(slash + 1);
  }
  std::string k_env, n_env;
  if (k_part == "auto") {
    const char* k = FirstEnv({"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"});
    if (!k) return Error{Code::kInvalidArgument, "--shard auto: neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set"};
    k_env = k;
    k_part = k_env;
    if (n_part.empty()) {
      const char* n = FirstEnv({"MAILRESCUE_SHARDS", "SLURM_ARRAY_TASK_COUNT"});
      if (!n) return Error{Code::kInvalidArgument, "--shard auto: give the shard count as auto/N or set MAILRESCUE_SHARDS"};
      n_env = n;
      n_part = n_env;
    }
  }
  if (!ParseUnsigned(k_part, &s.index) || !ParseUnsigned(n_part, &s.count) || s.count == 0 ||
      s.index >= s.count)
    return Error{Code::kInvalidArgument, "--shard " + std::string(spec) + ": expected K/N with 0 <= K < N"};
  return s;
}

std::uint64_t StableUserHash(std::string_view user) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : user) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool InShard(std::string_view user, const Shard& shard) {
  return shard.count <= 1 || StableUserHash(user) % shard.count == shard.index;
}

}  // namespace mr::orchestrate
