// Test helper: real ext4 images with committed, unreplayed journal
// transactions, made with mke2fs -d and debugfs's journal commands (jo/jw/jc),
// whose live blocks are then zeroed; plus small libext2fs readers used to
// compare what a handle sees. Helpers throw std::runtime_error when a tool
// fails (gtest reports it as a test failure).
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mr::salvage::testing {

// Runs a shell command; returns its stdout (and stderr when asked); throws on
// a non-zero exit.
std::string Sh(const std::string& cmd, bool with_stderr = false);

class ImageDir {
 public:
  ImageDir();  // a fresh temporary directory
  ~ImageDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Staging tree written into every test image: /mail/user/bob/{1.,2.,3.}, /mail/user/amy/1.
std::map<std::string, std::string> StagingFiles();

// mke2fs -F -q -t ext4 -b BS [-O features] -d staging img 64M
void MakeImage(const ImageDir& d, const std::string& img, const std::string& features = "",
               unsigned blocksize = 4096);
// Physical blocks of a path ("blocks" in debugfs).
std::vector<uint64_t> BlocksOf(const std::string& img, const std::string& path);
// Reads fs block `b` of an image file.
std::vector<uint8_t> ReadImageBlock(const std::string& img, uint64_t b, uint32_t bs = 4096);
void WriteImageBytes(const std::string& img, uint64_t offset, const std::vector<uint8_t>& bytes);
std::string Sha256(const std::string& file);

// One debugfs journal transaction: copy the current content of `blocks` into
// the journal (jw -b), optionally revoking `revoke`; uncommitted with commit=false.
struct Jw {
  std::vector<uint64_t> blocks = {};
  std::vector<uint64_t> revoke = {};
  bool commit = true;
};
// jo [-c] [-v ver]; the given transactions; jc. `csum`: 0 none, 2 or 3.
void JournalTransactions(const ImageDir& d, const std::string& img, int csum, const std::vector<Jw>& txns,
                         unsigned blocksize = 4096);
// Overwrites whole fs blocks with zeros (the "live" copies lost).
void ZeroBlocks(const std::string& img, const std::vector<uint64_t>& blocks, unsigned blocksize = 4096);

// Plain read-only open (unix_io_manager).
ext2_filsys OpenPlain(const std::string& img);
// path -> content for every regular file reachable from the root ("" when unreadable),
// and "<dir>" for directories; lost+found skipped.
std::map<std::string, std::string> Tree(ext2_filsys fs);
// Content of one file, or an error text starting with "ERR:".
std::string ReadPath(ext2_filsys fs, const std::string& path);

}  // namespace mr::salvage::testing
