#include "common/fsutil.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace mr {
namespace {

TEST(FsUtil, SanitizeKeepsSafeNames) {
  bool changed = true;
  EXPECT_EQ(SanitizeName("123.", &changed), "123.");
  EXPECT_FALSE(changed);
}

TEST(FsUtil, SanitizeEncodesUnsafeNames) {
  for (std::string bad : {std::string(".."), std::string("."), std::string("a/b"), std::string("x\0y", 3),
                          std::string(), std::string(300, 'a')}) {
    bool changed = false;
    std::string s = SanitizeName(bad, &changed);
    EXPECT_TRUE(changed) << bad;
    EXPECT_EQ(s.find('/'), std::string::npos);
    EXPECT_NE(s, "..");
    EXPECT_LE(s.size(), 255u);
  }
  EXPECT_NE(SanitizeName("a/b"), SanitizeName("a/c"));
}

TEST(FsUtil, SafeJoinRejectsEscapes) {
  EXPECT_FALSE(SafeJoin("/r", "../x").ok());
  EXPECT_FALSE(SafeJoin("/r", "/etc").ok());
  EXPECT_FALSE(SafeJoin("/r", "a/../../x").ok());
  EXPECT_EQ(SafeJoin("/r", "a//b/./c").value(), "/r/a/b/c");
}

TEST(FsUtil, AtomicWriteAndRead) {
  auto dir = std::filesystem::temp_directory_path() / ("mr_fsutil_" + std::to_string(::getpid()));
  ASSERT_TRUE(MakeDirs((dir / "a/b").string()).ok());
  std::string p = (dir / "a/b/f").string();
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("one")).ok());
  ASSERT_TRUE(WriteFileAtomic(p, std::string_view("two!")).ok());
  auto r = ReadFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(r->begin(), r->end()), "two!");
  EXPECT_FALSE(ReadFile(p, 2).ok());
  EXPECT_FALSE(ReadFile((dir / "missing").string()).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mr
