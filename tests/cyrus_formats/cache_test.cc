// cyrus.cache unit tests: item walking with bounds checks, writers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "common/fsutil.h"
#include "reconcile/cyrus/cache.h"
#include "reconcile/cyrus/crc32.h"

using namespace mr::cyrus;

namespace {

std::vector<std::uint8_t> MakeRecord(const std::vector<std::string>& items) {
  std::vector<std::uint8_t> out;
  for (const std::string& s : items) {
    const auto n = static_cast<std::uint32_t>(s.size());
    out.insert(out.end(), {std::uint8_t(n >> 24), std::uint8_t(n >> 16), std::uint8_t(n >> 8),
                           std::uint8_t(n)});
    out.insert(out.end(), s.begin(), s.end());
    while (out.size() % 4) out.push_back(0);
  }
  return out;
}

std::vector<std::string> Ten(const std::string& tag) {
  std::vector<std::string> v;
  for (int i = 0; i < 10; ++i) v.push_back(tag + std::string(static_cast<std::size_t>(i), 'x'));
  return v;
}

TEST(Cache, WriterAndReaderAgree) {
  CacheWriter w(7);
  const auto r1 = MakeRecord(Ten("a"));
  const auto r2 = MakeRecord(Ten("bb"));
  const std::uint64_t o1 = w.Append(r1);
  const std::uint64_t o2 = w.Append(r2);
  EXPECT_EQ(o1, 4u);
  EXPECT_EQ(o2, 4u + r1.size());
  auto gen = CacheGeneration(w.bytes());
  ASSERT_TRUE(gen.ok());
  EXPECT_EQ(*gen, 7u);
  auto got = CacheRecordAt(w.bytes(), o2);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(std::equal(got->begin(), got->end(), r2.begin(), r2.end()));
  EXPECT_EQ(CacheRecordCrc(*got), Crc32(r2));
  auto items = CacheItems(*got);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 10u);
  EXPECT_EQ(std::string((*items)[3].begin(), (*items)[3].end()), "bbxxx");
}

TEST(Cache, OutOfBoundsOffsetsAndLengthsAreErrors) {
  CacheWriter w(1);
  w.Append(MakeRecord(Ten("q")));
  const auto& b = w.bytes();
  EXPECT_FALSE(CacheRecordAt(b, 0).ok());
  EXPECT_FALSE(CacheRecordAt(b, b.size()).ok());
  EXPECT_FALSE(CacheRecordAt(b, ~0ull).ok());
  // Truncating anywhere inside the record is detected.
  for (std::size_t n = 4; n < b.size(); ++n) {
    auto r = CacheRecordAt(std::span<const std::uint8_t>(b.data(), n), 4);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().message.rfind("cyrus.cache: ", 0), 0u);
  }
  auto huge = b;
  huge[4] = 0xff;  // first item length ~4 GiB
  EXPECT_FALSE(CacheRecordAt(huge, 4).ok());
  EXPECT_FALSE(CacheGeneration(std::vector<std::uint8_t>{1, 2}).ok());
  auto rec = MakeRecord(Ten("z"));
  rec.push_back(0);
  EXPECT_FALSE(CacheItems(rec).ok());
}

TEST(Cache, FdWriterStreamsTheSameBytes) {
  char path[] = "/tmp/mr_cache_test_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  CacheFdWriter fw(fd, 9);
  CacheWriter mw(9);
  for (const char* tag : {"a", "bcd", "efghij"}) {
    const auto r = MakeRecord(Ten(tag));
    auto off = fw.Append(r);
    ASSERT_TRUE(off.ok());
    EXPECT_EQ(*off, mw.Append(r));
  }
  EXPECT_EQ(fw.size(), mw.bytes().size());
  ::close(fd);
  auto back = mr::ReadFile(path);
  ::unlink(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, mw.bytes());
  CacheFdWriter bad(-1, 1);
  EXPECT_FALSE(bad.status().ok());
  EXPECT_FALSE(bad.Append(MakeRecord(Ten("x"))).ok());
}

}  // namespace
