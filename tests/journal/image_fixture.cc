#include "image_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mr::salvage::testing {

namespace fs = std::filesystem;

std::string Sh(const std::string& cmd, bool with_stderr) {
  std::string out;
  FILE* p = popen((cmd + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd + "\n" + out);
  return out;
}

ImageDir::ImageDir() {
  char tmpl[] = "/tmp/mr-journal-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

ImageDir::~ImageDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::map<std::string, std::string> StagingFiles() {
  auto body = [](const std::string& tag, size_t n) {
    std::string s;
    for (size_t i = 0; s.size() < n; ++i) s += tag + " line " + std::to_string(i) + "\n";
    s.resize(n);
    return s;
  };
  return {{"mail/user/bob/1.", body("bob-1", 6000)},
          {"mail/user/bob/2.", body("bob-2", 300)},
          {"mail/user/bob/3.", body("bob-3", 9000)},
          {"mail/user/amy/1.", body("amy-1", 5000)}};
}

void MakeImage(const ImageDir& d, const std::string& img, const std::string& features,
               unsigned blocksize) {
  const std::string staging = d / "staging";
  fs::remove_all(staging);
  for (const auto& [path, content] : StagingFiles()) {
    fs::path p = fs::path(staging) / path;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  std::string opts = features.empty() ? "" : " -O " + features;
  Sh("mke2fs -F -q -t ext4 -b " + std::to_string(blocksize) + opts + " -d " + staging + " " + img + " 64M", true);
}

std::vector<uint64_t> BlocksOf(const std::string& img, const std::string& path) {
  std::istringstream in(Sh("debugfs -R 'blocks " + path + "' " + img));
  std::vector<uint64_t> out;
  uint64_t b;
  while (in >> b) out.push_back(b);
  if (out.empty()) throw std::runtime_error("no blocks for " + path);
  return out;
}

std::vector<uint8_t> ReadImageBlock(const std::string& img, uint64_t b, uint32_t bs) {
  std::vector<uint8_t> buf(bs);
  int fd = open(img.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("open " + img);
  ssize_t n = pread(fd, buf.data(), bs, static_cast<off_t>(b * bs));
  close(fd);
  if (n != static_cast<ssize_t>(bs)) throw std::runtime_error("short read of " + img);
  return buf;
}

void WriteImageBytes(const std::string& img, uint64_t offset, const std::vector<uint8_t>& bytes) {
  int fd = open(img.c_str(), O_WRONLY);
  if (fd < 0) throw std::runtime_error("open " + img);
  ssize_t n = pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
  close(fd);
  if (n != static_cast<ssize_t>(bytes.size())) throw std::runtime_error("short write to " + img);
}

std::string Sha256(const std::string& file) {
  std::string out = Sh("sha256sum " + file);
  return out.substr(0, 64);
}

void JournalTransactions(const ImageDir& d, const std::string& img, int csum, const std::vector<Jw>& txns,
                         unsigned blocksize) {
  std::ostringstream cmds;
  cmds << "jo";
  if (csum) cmds << " -c -v " << csum;
  cmds << "\n";
  int n = 0;
  for (const auto& t : txns) {
    cmds << "jw";
    if (!t.blocks.empty()) {
      const std::string data = d / ("jw" + std::to_string(n++) + ".bin");
      std::ofstream out(data, std::ios::binary);
      cmds << " -b ";
      for (size_t i = 0; i < t.blocks.size(); ++i) {
        auto blk = ReadImageBlock(img, t.blocks[i], blocksize);
        out.write(reinterpret_cast<const char*>(blk.data()), static_cast<std::streamsize>(blk.size()));
        cmds << (i ? "," : "") << t.blocks[i];
      }
      out.close();
      if (!t.revoke.empty()) {
        cmds << " -r ";
        for (size_t i = 0; i < t.revoke.size(); ++i) cmds << (i ? "," : "") << t.revoke[i];
      }
      if (!t.commit) cmds << " -c";
      cmds << " " << data << "\n";
    } else {
      cmds << " -r ";
      for (size_t i = 0; i < t.revoke.size(); ++i) cmds << (i ? "," : "") << t.revoke[i];
      if (!t.commit) cmds << " -c";
      cmds << "\n";
    }
  }
  cmds << "jc\n";
  const std::string file = d / "debugfs.cmds";
  std::ofstream(file) << cmds.str();
  std::string out = Sh("debugfs -w -f " + file + " " + img, true);
  if (out.find("rror") != std::string::npos || out.find("sage:") != std::string::npos)
    throw std::runtime_error("debugfs journal commands failed:\n" + cmds.str() + out);
}

void ZeroBlocks(const std::string& img, const std::vector<uint64_t>& blocks, unsigned blocksize) {
  for (uint64_t b : blocks) WriteImageBytes(img, b * blocksize, std::vector<uint8_t>(blocksize, 0));
}

ext2_filsys OpenPlain(const std::string& img) {
  ext2_filsys fs = nullptr;
  errcode_t err = ext2fs_open2(img.c_str(), nullptr, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
  if (err) throw std::runtime_error("ext2fs_open2 " + img + " failed: " + std::to_string(err));
  return fs;
}

std::string ReadPath(ext2_filsys fs, const std::string& path) {
  ext2_ino_t ino = 0;
  errcode_t err = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path.c_str(), &ino);
  if (err) return "ERR:namei " + std::to_string(err);
  ext2_inode inode{};
  if ((err = ext2fs_read_inode(fs, ino, &inode))) return "ERR:inode " + std::to_string(err);
  if (LINUX_S_ISDIR(inode.i_mode)) return "<dir>";
  ext2_file_t f = nullptr;
  if ((err = ext2fs_file_open2(fs, ino, &inode, 0, &f))) return "ERR:open " + std::to_string(err);
  std::string out;
  char buf[4096];
  unsigned int got = 0;
  while (out.size() < (1u << 20)) {
    err = ext2fs_file_read(f, buf, sizeof buf, &got);
    if (err) {
      out = "ERR:read " + std::to_string(err);
      break;
    }
    if (got == 0) break;
    out.append(buf, got);
  }
  ext2fs_file_close(f);
  return out;
}

namespace {

struct WalkCtx {
  ext2_filsys fs;
  std::string prefix;
  std::vector<std::pair<std::string, ext2_ino_t>> entries;
};

int Collect(ext2_ino_t, int, ext2_dir_entry* dirent, int, int, char*, void* priv) {
  auto* c = static_cast<WalkCtx*>(priv);
  std::string name(dirent->name, ext2fs_dirent_name_len(dirent));
  if (name == "." || name == ".." || name == "lost+found") return 0;
  c->entries.emplace_back(name, dirent->inode);
  return 0;
}

void Walk(ext2_filsys fs, ext2_ino_t dir, const std::string& prefix, int depth,
          std::map<std::string, std::string>& out) {
  if (depth > 16) return;
  WalkCtx ctx{fs, prefix, {}};
  errcode_t err = ext2fs_dir_iterate2(fs, dir, 0, nullptr, Collect, &ctx);
  if (err) out[prefix + "<error>"] = std::to_string(err);
  for (const auto& [name, ino] : ctx.entries) {
    const std::string path = prefix + name;
    ext2_inode inode{};
    if (ext2fs_read_inode(fs, ino, &inode)) {
      out[path] = "ERR:inode";
    } else if (LINUX_S_ISDIR(inode.i_mode)) {
      out[path] = "<dir>";
      Walk(fs, ino, path + "/", depth + 1, out);
    } else {
      out[path] = ReadPath(fs, path);
    }
  }
}

}  // namespace

std::map<std::string, std::string> Tree(ext2_filsys fs) {
  std::map<std::string, std::string> out;
  Walk(fs, EXT2_ROOT_INO, "", 0, out);
  return out;
}

}  // namespace mr::salvage::testing
