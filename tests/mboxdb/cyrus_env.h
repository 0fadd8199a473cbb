// Test helper: a private Cyrus 3.6 root (tests/mboxdb/cyrus_root.sh) and a way to run
// the real Cyrus tools against it and capture their output.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace mr::cyrus::testing {

inline std::string RunCmd(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) { *rc = -1; return out; }
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

inline std::vector<std::uint8_t> Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

inline void Spit(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Cyrus stamps the N and I records of one mailbox with separate time(NULL) calls, so
// their M values can differ by a second; we keep one mtime. Byte comparisons of record
// values therefore mask M.
inline std::string MaskMtimes(const std::string& s) {
  static const std::regex m(" M [0-9]+ ");
  return std::regex_replace(s, m, " M * ");
}
template <class Pairs>
Pairs MaskMtimes(Pairs kv) {
  for (auto& p : kv) p.second = MaskMtimes(p.second);
  return kv;
}

class CyrusRoot {
 public:
  // `extra_conf`: an imapd.conf line to add, e.g. "mboxlist_db: flat".
  explicit CyrusRoot(const std::string& name, const std::string& extra_conf = "")
      : dir_("/tmp/mr-mboxdb-" + std::to_string(getpid()) + "-" + name) {
    int rc = 0;
    std::string cmd = std::string("sh ") + MR_SOURCE_DIR + "/tests/mboxdb/cyrus_root.sh " + dir_;
    if (!extra_conf.empty()) cmd += " '" + extra_conf + "'";
    RunCmd(cmd, &rc);
    ok_ = rc == 0;
  }
  ~CyrusRoot() { std::filesystem::remove_all(dir_); }
  bool ok() const { return ok_; }
  const std::string& dir() const { return dir_; }
  std::string conf() const { return dir_ + "/imapd.conf"; }
  std::string db() const { return dir_ + "/conf/mailboxes.db"; }
  // Runs /usr/lib/cyrus/bin/<tool> -C imapd.conf <args>; stderr is discarded.
  std::string Tool(const std::string& tool, const std::string& args, int* rc) const {
    return RunCmd("/usr/lib/cyrus/bin/" + tool + " -C " + conf() + " " + args + " 2>/dev/null", rc);
  }
  // Makes files we wrote usable by tools that switch to user cyrus.
  void Chown() const {
    int rc = 0;
    if (geteuid() == 0) RunCmd("chown -R cyrus:mail " + dir_, &rc);
  }

 private:
  std::string dir_;
  bool ok_ = false;
};

}  // namespace mr::cyrus::testing
