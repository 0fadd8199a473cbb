// imapd.conf reader: the settings that locate a Cyrus store. See imapd_conf.h.
#include "reconcile/cyrus/imapd_conf.h"

#include "common/fsutil.h"

namespace mr::cyrus {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Cyrus's switch values; nullopt when the value is neither.
std::optional<bool> ParseSwitch(std::string_view v) {
  const std::string l = Lower(v);
  if (l == "1" || l == "yes" || l == "on" || l == "t" || l == "true") return true;
  if (l == "0" || l == "no" || l == "off" || l == "f" || l == "false") return false;
  return std::nullopt;
}

constexpr std::uint64_t kMaxConfSize = 4u << 20;

}  // namespace

Result<CyrusConfig> ParseImapdConf(std::string_view text) {
  CyrusConfig cfg;
  std::size_t lineno = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = Trim(text.substr(pos, eol - pos));
    pos = eol + 1;
    ++lineno;
    if (line.empty() || line.front() == '#') continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Error{Code::kInvalidArgument,
                   "imapd.conf line " + std::to_string(lineno) + ": no 'key: value'"};
    const std::string key = Lower(Trim(line.substr(0, colon)));
    const std::string value(Trim(line.substr(colon + 1)));
    auto flag = [&](bool* out) -> Status {
      auto v = ParseSwitch(value);
      if (!v)
        return Error{Code::kInvalidArgument, "imapd.conf line " + std::to_string(lineno) +
                                                 ": " + key + ": not a yes/no value: " + value};
      *out = *v;
      return Status::Ok();
    };
    Status st;
    if (key == "configdirectory") {
      cfg.configdirectory = value;
    } else if (key == "defaultpartition") {
      cfg.defaultpartition = value;
    } else if (key.rfind("partition-", 0) == 0 && key.size() > 10) {
      cfg.partitions[key.substr(10)] = value;
    } else if (key == "mailbox_legacy_dirs") {
      st = flag(&cfg.legacy_dirs);
    } else if (key == "hashimapspool") {
      st = flag(&cfg.hashimapspool);
    } else if (key == "fulldirhash") {
      st = flag(&cfg.fulldirhash);
    } else if (key == "mboxlist_db") {
      cfg.mboxlist_db = Lower(value);
    } else if (key == "mboxlist_db_path") {
      cfg.mboxlist_db_path = value;
    } else if (key == "virtdomains") {
      // An enum in Cyrus (off | userid | on): anything but "off" enables it.
      auto v = ParseSwitch(value);
      cfg.virtdomains = v.has_value() ? *v : true;
    }
    if (!st.ok()) return st.error();
  }
  if (cfg.configdirectory.empty())
    return Error{Code::kInvalidArgument, "imapd.conf: no configdirectory"};
  auto it = cfg.partitions.find(Lower(cfg.defaultpartition));
  if (it != cfg.partitions.end()) cfg.partition_default = it->second;
  return cfg;
}

Result<CyrusConfig> ReadImapdConf(const std::string& path) {
  auto bytes = mr::ReadFile(path, kMaxConfSize);
  if (!bytes.ok()) return bytes.error();
  auto r = ParseImapdConf(
      std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!r.ok()) return Error{r.error().code, path + ": " + r.error().message};
  return r;
}

}  // namespace mr::cyrus
