// Helpers for salvage tests: temp dirs, shell commands, tiny ext4 images
// built with mke2fs -d, SHA-256 of a file, reading salvage.json.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/sha1.h"

namespace mr::salvage::test {

namespace fs = std::filesystem;

inline std::string Quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

struct CmdResult {
  int rc = -1;
  std::string out;  // stdout + stderr
};

inline CmdResult Sh(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mr-salvage-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::error_code ec; fs::remove_all(path_, ec); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& s) const { return path_ + "/" + s; }

 private:
  std::string path_;
};

inline void WriteText(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// The magic line every cyrus.header starts with.
inline const std::string kHeaderMagic =
    "\241\002\213\015Cyrus mailbox header\n\"The best thing about this system was that it had "
    "lots of goals.\"\n\t--Jim Morris on Andrew\n";

// A uuid-layout mailbox under `spool`: cyrus.header, the message files 1., 2., ...
// and a minimal cyrus.index naming them (uid, GUID).
inline void StageMailbox(const std::string& spool, const std::string& id, const std::string& name,
                         const std::vector<std::string>& messages) {
  const std::string dir = spool + "/uuid/" + id.substr(0, 1) + "/" + id.substr(1, 1) + "/" + id;
  WriteText(dir + "/cyrus.header", kHeaderMagic + "%(T e N " + name + " I " + id + " A %(x lrs))\n");
  // Minimal cyrus.index: header + one 112-byte record per message (uid, GUID at 60).
  std::string idx(160 + 112 * messages.size(), '\0');
  auto be = [&](size_t off, std::uint32_t v) {
    idx[off] = static_cast<char>(v >> 24); idx[off + 1] = static_cast<char>(v >> 16);
    idx[off + 2] = static_cast<char>(v >> 8); idx[off + 3] = static_cast<char>(v);
  };
  be(8, 17); be(12, 160); be(16, 112); be(20, static_cast<std::uint32_t>(messages.size()));
  for (size_t i = 0; i < messages.size(); ++i) {
    be(160 + 112 * i, static_cast<std::uint32_t>(i + 1));
    Digest d = Sha1Of(std::string_view(messages[i]));
    std::memcpy(idx.data() + 160 + 112 * i + 60, d.data(), 20);
    WriteText(dir + "/" + std::to_string(i + 1) + ".", messages[i]);
  }
  WriteText(dir + "/cyrus.index", idx);
}

// A folder directory `dir` as Cyrus 3.6 writes it, as far as salvage looks: cyrus.header
// (N and I), cyrus.index v17 (generation, header_file_crc = CRC32 of cyrus.header, per
// message uid, cache_offset, GUID and cache_crc), cyrus.cache (the generation, then 10
// items per message) and the message files 1., 2., ...
inline void StageFolder(const std::string& dir, const std::string& id, const std::string& name,
                        const std::vector<std::string>& messages, std::uint32_t generation = 7) {
  const std::string header = kHeaderMagic + "%(T e N " + name + " I " + id + " A %(x lrs))\n";
  auto crc = [](const std::string& s) {
    return static_cast<std::uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
  };
  auto be = [](std::string& b, size_t off, std::uint32_t v) {
    b[off] = static_cast<char>(v >> 24); b[off + 1] = static_cast<char>(v >> 16);
    b[off + 2] = static_cast<char>(v >> 8); b[off + 3] = static_cast<char>(v);
  };
  std::string cache(4, '\0'), idx(160 + 112 * messages.size(), '\0');
  be(cache, 0, generation);
  be(idx, 0, generation); be(idx, 8, 17); be(idx, 12, 160); be(idx, 16, 112);
  be(idx, 20, static_cast<std::uint32_t>(messages.size())); be(idx, 96, crc(header));
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string rec;
    for (int item = 0; item < 10; ++item) {
      std::string data = "item " + std::to_string(item) + " of " + name + " message " + std::to_string(i + 1);
      std::string len(4, '\0');
      be(len, 0, static_cast<std::uint32_t>(data.size()));
      data.resize((data.size() + 3) & ~size_t{3}, '\0');
      rec += len + data;
    }
    const size_t r = 160 + 112 * i;
    be(idx, r, static_cast<std::uint32_t>(i + 1));
    be(idx, r + 24, static_cast<std::uint32_t>(cache.size()));
    be(idx, r + 56, 11);
    Digest d = Sha1Of(std::string_view(messages[i]));
    std::memcpy(idx.data() + r + 60, d.data(), 20);
    be(idx, r + 104, crc(rec));
    cache += rec;
    WriteText(dir + "/" + std::to_string(i + 1) + ".", messages[i]);
  }
  WriteText(dir + "/cyrus.header", header);
  WriteText(dir + "/cyrus.index", idx);
  WriteText(dir + "/cyrus.cache", cache);
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string Sha256(const std::string& path) {
  std::string data = ReadText(path);
  unsigned char md[32];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  char hex[65];
  for (unsigned i = 0; i < len; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return std::string(hex, 64);
}

// mke2fs -d STAGE IMG SIZE with extra options (e.g. "-b 1024") and filesystem type.
inline void MakeImage(const std::string& stage, const std::string& img, const std::string& size,
                      const std::string& opts = "-b 4096", const std::string& type = "ext4") {
  auto r = Sh("/usr/sbin/mke2fs -F -q -t " + type + " " + opts + " -d " + Quote(stage) + " " + Quote(img) + " " + size);
  ASSERT_EQ(r.rc, 0) << r.out;
}

inline CmdResult Debugfs(const std::string& img, const std::string& req, bool write = false) {
  return Sh("/usr/sbin/debugfs " + std::string(write ? "-w " : "") + "-R " + Quote(req) + " " + Quote(img));
}

inline CmdResult Salvage(const std::string& img, const std::string& out, const std::string& extra = "") {
  return Sh(std::string(MR_CLI_PATH) + " -q salvage " + Quote(img) + " --out " + Quote(out) + " " + extra);
}

inline nlohmann::json ReadManifest(const std::string& out) {
  return nlohmann::json::parse(ReadText(out + "/salvage.json"));
}

// "message-file-number-0042.": a long name, so one 4 KiB directory block holds ~110.
inline std::string Name(int i) {
  char b[64];
  std::snprintf(b, sizeof b, "message-file-number-%04d.", i);
  return b;
}

// The contents of the regular files directly in OUT/lost+found.
inline std::set<std::string> LostFoundContents(const std::string& out) {
  std::set<std::string> s;
  if (!std::filesystem::exists(out + "/lost+found")) return s;
  for (auto& e : std::filesystem::directory_iterator(out + "/lost+found"))
    if (e.is_regular_file()) s.insert(ReadText(e.path()));
  return s;
}

// After one directory block of OUT/spool/big (n files "content of <Name(i)>") was lost:
// every file is either in place, intact, or in lost+found; a block's worth went to
// lost+found; the directory is marked incomplete and the totals count lost+found.
// Returns how many went to lost+found.
inline int ExpectOneDirBlockOfBigLost(const std::string& out, int n) {
  const auto lost = LostFoundContents(out);
  int in_place = 0, in_lost = 0;
  for (int i = 0; i < n; ++i) {
    const std::string want = "content of " + Name(i);
    if (std::filesystem::exists(out + "/spool/big/" + Name(i))) {
      EXPECT_EQ(ReadText(out + "/spool/big/" + Name(i)), want);
      ++in_place;
    } else {
      EXPECT_TRUE(lost.count(want)) << Name(i) << " neither in place nor in lost+found";
      ++in_lost;
    }
  }
  EXPECT_GT(in_lost, 20);  // a 4 KiB block holds ~110 of these entries
  EXPECT_LT(in_lost, 150);
  EXPECT_EQ(in_place + in_lost, n);
  auto m = ReadManifest(out);
  bool marked = false;
  for (const auto& d : m["dirs"])
    if (d["path"] == "spool/big") marked = !d["complete"].get<bool>();
  EXPECT_TRUE(marked) << "spool/big must be complete:false";
  EXPECT_EQ(m["totals"]["lost_found"], in_lost);
  return in_lost;
}

// Inode number of PATH inside the image (debugfs stat).
inline unsigned long InodeOf(const std::string& img, const std::string& path) {
  auto r = Sh("/usr/sbin/debugfs -R " + Quote("stat " + path) + " " + Quote(img) + " | head -1");
  auto p = r.out.find("Inode: ");
  return p == std::string::npos ? 0 : std::stoul(r.out.substr(p + 7));
}

// Physical blocks of PATH (debugfs blocks).
inline std::vector<unsigned long> BlocksOf(const std::string& img, const std::string& path) {
  auto r = Debugfs(img, "blocks " + path);
  std::vector<unsigned long> out;
  std::istringstream in(r.out);
  std::string tok;
  while (in >> tok)
    if (!tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos) out.push_back(std::stoul(tok));
  return out;
}

}  // namespace mr::salvage::test
