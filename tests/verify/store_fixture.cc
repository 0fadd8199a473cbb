// Test support for verify and e2e. See store_fixture.h.
#include "tests/verify/store_fixture.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "common/cyrus_layout.h"

namespace mr::testing {
namespace {

bool Exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string Q(const std::string& s) {  // shell single-quote
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

void Must(const std::string& cmd) {
  RunResult r = Run(cmd);
  if (r.rc != 0) throw std::runtime_error("command failed (" + std::to_string(r.rc) + "): " + cmd);
}

}  // namespace

std::vector<std::string> RunResult::lines() const {
  std::vector<std::string> v;
  std::istringstream in(out);
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) v.push_back(l);
  return v;
}

RunResult Run(const std::string& cmd) {
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return r;
}

RunResult RunCli(const std::string& args) {
  return Run(std::string(MR_CLI_PATH) + " " + args);
}

StoreDirs PristineStore(const std::string& layout) {
  std::string shared = std::string(MR_BINARY_DIR) + "/fixture-data/small-" + layout;
  if (Exists(shared + "/stamp")) return StoreDirs{shared + "/current"};
  std::string own = std::string(MR_BINARY_DIR) + "/verify-data/" + layout;
  Must("mkdir -p " + Q(std::string(MR_BINARY_DIR) + "/verify-data"));
  std::string lock = std::string(MR_BINARY_DIR) + "/verify-data/.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + lock);
  ::flock(fd, LOCK_EX);
  if (!Exists(own + "/done")) {
    RunResult r = Run("python3 " + Q(std::string(MR_SOURCE_DIR) +
                                     "/tests/verify/make_cyrus_store.py") +
                      " --out " + Q(own) + " --layout " + layout + " 1>&2");
    if (r.rc != 0) {
      ::close(fd);
      throw std::runtime_error("make_cyrus_store.py failed for " + layout);
    }
  }
  ::close(fd);
  return StoreDirs{own};
}

StoreDirs CopyStore(const StoreDirs& from, const std::string& name) {
  std::string base = std::string(MR_BINARY_DIR) + "/verify-tmp";
  std::string root = base + "/" + name;
  Must("mkdir -p " + Q(base) + " && chmod 755 " + Q(base) + " && rm -rf " + Q(root) +
       " && mkdir " + Q(root) + " && chmod 755 " + Q(root));
  Must("cp -a " + Q(from.spool()) + " " + Q(root + "/spool") + " && cp -a " + Q(from.conf()) +
       " " + Q(root + "/conf") + " && rm -rf " + Q(root + "/conf/socket") + " " +
       Q(root + "/conf/proc") + " " + Q(root + "/conf/lock") + " && chown -R cyrus:mail " +
       Q(root));
  return StoreDirs{root};
}

RunResult RunCyrus(const StoreDirs& store, const std::string& tool, const std::string& args) {
  std::string conf = store.root + "/verify-imapd.conf";
  if (!Exists(conf)) {
    std::ofstream out(conf);
    out << "configdirectory: " << store.conf() << "\n"
        << "defaultpartition: default\n"
        << "partition-default: " << store.spool() << "\n"
        << "mboxname_lockpath: " << store.conf() << "/lock\n"
        << "proc_path: " << store.conf() << "/proc\n"
        << "hashimapspool: true\n"
        << "syslog_prefix: mrverifytest\n";
  }
  Must("mkdir -p " + Q(store.conf() + "/lock") + " " + Q(store.conf() + "/proc") +
       " && chown -R cyrus:mail " + Q(store.conf()));
  return Run("/usr/lib/cyrus/bin/" + tool + " -C " + Q(conf) + " " + args);
}

std::vector<const cyrus::IndexRecord*> FolderAt::live() const {
  std::vector<const cyrus::IndexRecord*> v;
  for (const auto& r : index.records)
    if (!(r.system_flags & (cyrus::kFlagExpunged | cyrus::kFlagUnlinked))) v.push_back(&r);
  return v;
}

FolderAt PickFolder(const StoreDirs& store, std::size_t min_live, const std::string& prefer_user,
                    const std::vector<std::string>& avoid) {
  auto entries = cyrus::ReadMailboxesDb(store.db());
  if (!entries.ok()) throw std::runtime_error("cannot read " + store.db());
  std::vector<cyrus::MboxEntry> order = *entries;
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return (UserOf(a.name) == prefer_user) > (UserOf(b.name) == prefer_user);
  });
  for (const auto& e : order) {
    if (e.deleted() || e.mbtype.find('i') != std::string::npos) continue;
    if (std::find(avoid.begin(), avoid.end(), e.name) != avoid.end()) continue;
    bool legacy = e.mbtype.find('l') != std::string::npos;
    FolderAt f;
    f.entry = e;
    f.dir = store.spool() + "/" +
            MailboxRelDir(e.name, e.uniqueid, legacy ? CyrusLayout::kLegacy : CyrusLayout::kUuid,
                          true);
    auto ix = cyrus::ReadIndexFile(f.dir + "/cyrus.index");
    if (!ix.ok()) continue;
    f.index = std::move(*ix);
    if (f.live().size() >= min_live) return f;
  }
  throw std::runtime_error("no mailbox with enough live messages in " + store.root);
}

std::vector<std::uint8_t> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void Spit(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::uint32_t GetBE32(const std::vector<std::uint8_t>& b, std::size_t off) {
  return (std::uint32_t{b.at(off)} << 24) | (std::uint32_t{b.at(off + 1)} << 16) |
         (std::uint32_t{b.at(off + 2)} << 8) | b.at(off + 3);
}

void PutBE32(std::vector<std::uint8_t>& b, std::size_t off, std::uint32_t v) {
  b.at(off) = static_cast<std::uint8_t>(v >> 24);
  b.at(off + 1) = static_cast<std::uint8_t>(v >> 16);
  b.at(off + 2) = static_cast<std::uint8_t>(v >> 8);
  b.at(off + 3) = static_cast<std::uint8_t>(v);
}

void FixIndexHeaderCrc(std::vector<std::uint8_t>& b) {
  PutBE32(b, 156, static_cast<std::uint32_t>(::crc32(0L, b.data(), 156)));
}

}  // namespace mr::testing
