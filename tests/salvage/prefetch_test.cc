// RangeHinter's warm-run detection: a run counts as warm only when the first
// RangeHinter::kWarmProbes hints all find their data in the page cache, so a
// source whose first few ranges happen to be cached (the readahead of an
// earlier user's reads on an interleaved spool) is still prefetched.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "salvage/prefetch.h"
#include "salvage/source.h"

namespace fs = std::filesystem;
using mr::salvage::RangeHinter;
using mr::salvage::Source;

namespace {

constexpr std::uint64_t kRange = 64u << 10;  // spaced hints, so none merge
constexpr std::uint64_t kStride = 1u << 20;

class RangeHinterTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mr-prefetch-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = dir_ / "src";
    std::ofstream f(path_, std::ios::binary);
    std::vector<char> buf(kStride, 'x');
    for (int i = 0; i < 2 * RangeHinter::kWarmProbes; ++i) f.write(buf.data(), buf.size());
    f.close();
    int fd = ::open(path_.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // clean pages: dropped
    ::close(fd);
    auto s = Source::Open({path_, {}, 0, {}});
    ASSERT_TRUE(s.ok());
    src_ = *s;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Cache(int range) {
    std::vector<char> buf(kRange);
    ASSERT_EQ(::pread(src_->fd(), buf.data(), kRange, static_cast<off_t>(range * kStride)),
              static_cast<ssize_t>(kRange));
  }
  bool Cached(int range) {
    char byte;
    iovec iov{&byte, 1};
    return ::preadv2(src_->fd(), &iov, 1, static_cast<off_t>(range * kStride), RWF_NOWAIT) == 1;
  }
  // Hints n ranges one by one; true when the hinter called the run warm at
  // any point (the Prefetcher asks after every file and stops at the first yes).
  bool HintAll(RangeHinter& h, int n) {
    bool warm = false;
    for (int i = 0; i < n; ++i) {
      h.Add(i * kStride, kRange);
      h.Flush();
      warm = warm || h.Warm();
    }
    return warm;
  }

  fs::path dir_, path_;
  std::shared_ptr<Source> src_;
};

TEST_F(RangeHinterTest, AllCachedIsWarm) {
  for (int i = 0; i < RangeHinter::kWarmProbes; ++i) Cache(i);
  RangeHinter h(*src_);
  EXPECT_TRUE(HintAll(h, RangeHinter::kWarmProbes));
  EXPECT_EQ(h.hints(), RangeHinter::kWarmProbes);
}

TEST_F(RangeHinterTest, FirstFewCachedIsNotWarm) {
  if (Cached(10)) GTEST_SKIP() << "this filesystem ignores POSIX_FADV_DONTNEED";
  for (int i = 0; i < 4; ++i) Cache(i);
  RangeHinter h(*src_);
  EXPECT_FALSE(HintAll(h, RangeHinter::kWarmProbes));
  EXPECT_GE(h.found(), 4);
  EXPECT_LT(h.found(), RangeHinter::kWarmProbes);
}

TEST_F(RangeHinterTest, NothingCachedIsNotWarmAndHintsAreRead) {
  if (Cached(10)) GTEST_SKIP() << "this filesystem ignores POSIX_FADV_DONTNEED";
  RangeHinter h(*src_);
  EXPECT_FALSE(HintAll(h, RangeHinter::kWarmProbes));
  // WILLNEED starts the reads: the hinted ranges come into the cache.
  bool cached = false;
  for (int tries = 0; tries < 200 && !cached; ++tries) {
    cached = Cached(RangeHinter::kWarmProbes - 1);
    if (!cached) ::usleep(10000);
  }
  EXPECT_TRUE(cached);
}

}  // namespace
