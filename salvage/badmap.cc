#include "salvage/badmap.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "common/fsutil.h"

namespace mr::salvage {
namespace {

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool ParseNumber(std::string_view s, std::uint64_t* out) {
  if (s.empty() || s.size() > 40 || s[0] == '-' || s[0] == '+') return false;
  std::string tmp(s);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(tmp.c_str(), &end, 0);
  if (errno != 0 || end != tmp.c_str() + tmp.size()) return false;
  *out = v;
  return true;
}

bool ValidStatus(std::string_view s) {
  return s.size() == 1 && std::string_view("+?*/-").find(s[0]) != std::string_view::npos;
}

}  // namespace

void MergeRanges(std::vector<ByteRange>* ranges) {
  auto& r = *ranges;
  std::erase_if(r, [](const ByteRange& b) { return b.length == 0; });
  std::sort(r.begin(), r.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.offset < b.offset;
  });
  std::vector<ByteRange> out;
  for (const auto& b : r) {
    if (!out.empty() && b.offset <= out.back().end()) {
      out.back().length = std::max(out.back().end(), b.end()) - out.back().offset;
    } else {
      out.push_back(b);
    }
  }
  r = std::move(out);
}

Result<BadMap> BadMap::Parse(std::string_view text, const std::string& what) {
  BadMap m;
  bool seen_status_line = false;
  size_t lineno = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    auto f = Fields(line);
    if (f.empty() || f[0][0] == '#') {
      if (nl == text.size()) break;
      continue;
    }
    auto bad = [&](const std::string& why) {
      return Error{Code::kInvalidArgument,
                   "badmap " + what + " line " + std::to_string(lineno) + ": " + why};
    };
    if (!seen_status_line) {
      // current_pos current_status [current_pass]
      std::uint64_t cur = 0;
      if (f.size() < 2 || f.size() > 3 || !ParseNumber(f[0], &cur) || f[1].size() != 1)
        return bad("expected the status line 'pos status [pass]'");
      seen_status_line = true;
    } else {
      std::uint64_t off = 0, len = 0;
      if (f.size() != 3 || !ParseNumber(f[0], &off) || !ParseNumber(f[1], &len))
        return bad("expected 'pos size status'");
      if (!ValidStatus(f[2])) return bad("unknown block status '" + std::string(f[2]) + "'");
      if (len > std::numeric_limits<std::uint64_t>::max() - off) return bad("block overflows");
      if (f[2] != "+") m.bad_.push_back({off, len});
    }
    if (nl == text.size()) break;
  }
  if (!seen_status_line)
    return Error{Code::kInvalidArgument, "badmap " + what + ": not a ddrescue mapfile (no status line)"};
  MergeRanges(&m.bad_);
  return m;
}

Result<BadMap> BadMap::Load(const std::string& path) {
  auto data = ReadFile(path, 256ull << 20);
  if (!data.ok())
    return Error{Code::kInvalidArgument, "badmap " + path + ": " + data.error().message};
  std::string_view text(reinterpret_cast<const char*>(data->data()), data->size());
  return Parse(text, path);
}

std::vector<ByteRange> BadMap::Overlaps(std::uint64_t offset, std::uint64_t length) const {
  std::vector<ByteRange> out;
  if (length == 0 || bad_.empty()) return out;
  const std::uint64_t end = offset + length;
  auto it = std::upper_bound(bad_.begin(), bad_.end(), offset,
                             [](std::uint64_t o, const ByteRange& b) { return o < b.offset; });
  if (it != bad_.begin()) --it;
  for (; it != bad_.end() && it->offset < end; ++it) {
    std::uint64_t s = std::max(it->offset, offset), e = std::min(it->end(), end);
    if (s < e) out.push_back({s, e - s});
  }
  return out;
}

}  // namespace mr::salvage
