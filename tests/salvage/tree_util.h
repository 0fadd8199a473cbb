// A staged tree with every kind of entry salvage must keep (hard link,
// symlinks, empty, sparse, setuid, sticky, owners, mtimes) and a comparison
// of a salvaged tree against it. Shared by image_test and rebuild_test.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>

#include "test_util.h"

namespace mr::salvage::test {

struct Entry {
  mode_t mode = 0;
  off_t size = 0;
  time_t mtime = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  ino_t ino = 0;
  std::string content;  // file bytes or symlink target
};

inline std::map<std::string, Entry> Snapshot(const std::string& root, bool skip_lost_found) {
  std::map<std::string, Entry> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), root).string();
    if (skip_lost_found && rel.rfind("lost+found", 0) == 0) continue;
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    Entry e{st.st_mode, st.st_size, st.st_mtim.tv_sec, st.st_uid, st.st_gid, st.st_ino, ""};
    if (S_ISREG(st.st_mode)) e.content = ReadText(it->path());
    if (S_ISLNK(st.st_mode)) e.content = fs::read_symlink(it->path()).string();
    if (S_ISDIR(st.st_mode)) e.size = 0;
    out[rel] = e;
  }
  return out;
}

// Builds a staging tree covering every kind of entry salvage must keep.
inline void Stage(const std::string& s) {
  WriteText(s + "/user/bob/1.", "From: a\r\n\r\nhello\r\n");
  WriteText(s + "/user/bob/2.", std::string(70000, 'x') + "tail");
  WriteText(s + "/user/bob/empty", "");
  fs::create_hard_link(s + "/user/bob/1.", s + "/user/alice-link");
  fs::create_symlink("../bob/1.", s + "/user/short-link");
  fs::create_symlink(std::string(100, 'L') + "/target/that/is/longer/than/sixty/bytes", s + "/user/long-link");
  WriteText(s + "/setuid-prog", "#!/bin/sh\n");
  ::chmod((s + "/setuid-prog").c_str(), 04751);
  fs::create_directories(s + "/sticky");
  ::chmod((s + "/sticky").c_str(), 01777);
  WriteText(s + "/private", "secret");
  ::chmod((s + "/private").c_str(), 0600);
  ::chown((s + "/private").c_str(), 1234, 5678);
  Sh("truncate -s 3M " + Quote(s + "/sparse") + " && printf end >> " + Quote(s + "/sparse"));
  Sh("touch -h -d '2019-05-06 07:08:09' " + Quote(s + "/user/bob/1.") + " " + Quote(s + "/user/bob/2.") +
     " " + Quote(s + "/user/short-link"));
  Sh("touch -d '2018-01-01 00:00:00' " + Quote(s + "/user/bob") + " " + Quote(s + "/sticky"));
}

// Every entry of the staged tree is in the salvaged one with its mode, size, bytes (or
// symlink target), owner and mtime (symlinks: only the one whose mtime was set, when
// `short_link_mtime`). Returns the salvaged snapshot for further checks.
inline std::map<std::string, Entry> ExpectSameTree(const std::string& stage, const std::string& out,
                                            bool short_link_mtime) {
  auto want = Snapshot(stage, false);
  auto got = Snapshot(out, true);
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [path, w] : want) {
    SCOPED_TRACE(path);
    auto it = got.find(path);
    if (it == got.end()) {
      ADD_FAILURE() << "missing from the salvage";
      continue;
    }
    const Entry& g = it->second;
    EXPECT_EQ(g.mode, w.mode);
    EXPECT_EQ(g.size, w.size);
    EXPECT_EQ(g.content, w.content);
    EXPECT_EQ(g.uid, w.uid);
    EXPECT_EQ(g.gid, w.gid);
    if (!S_ISLNK(w.mode) || (short_link_mtime && path == "user/short-link")) {
      EXPECT_EQ(g.mtime, w.mtime);
    }
  }
  return got;
}

}  // namespace mr::salvage::test
