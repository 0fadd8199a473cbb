// mr_write_floor: the least any salvage tool must spend to write a given output
// tree, measured so the salvage benchmark can print it beside the tools.
//
// It loads a finished output tree (every directory, file body, symlink, mode,
// owner and time) into memory, then times only re-creating it under DST with
// the cheapest calls there are: one openat relative to an open directory with
// the final mode (umask 0), one write, fchown when running as root and the owner
// is not root, futimens, close; whole directories go to the next free worker.
// Nothing is read from any filesystem image, nothing is hashed or reported, so
// no tool that produces the same tree on the same filesystem can finish faster
// than this on the same cores. Hard links are re-created as links.
//
// usage: mr_write_floor SRC DST [JOBS]   (DST must not exist)
// prints: "files F dirs D bytes B wall W cpu C" (seconds; cpu = user + system)
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Meta {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  timespec times[2] = {};
};

struct Entry {
  std::string name;
  Meta meta;
  std::string body;      // file bytes, or a symlink's target
  bool symlink = false;
  std::string link_src;  // hard link: the first path (relative to DST)
};

struct Dir {
  std::string rel;  // "" for the root
  Meta meta;
  std::vector<Entry> entries;
};

Meta MetaOf(const struct stat& st) {
  Meta m;
  m.mode = st.st_mode & 07777;
  m.uid = st.st_uid;
  m.gid = st.st_gid;
  m.times[0] = st.st_atim;
  m.times[1] = st.st_mtim;
  return m;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "mr_write_floor: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

// Loads SRC depth-first; directories are listed before their contents so
// creating them in list order always finds the parent.
void Load(const std::string& src, std::vector<Dir>* dirs, std::uint64_t* bytes) {
  std::map<std::pair<dev_t, ino_t>, std::string> first_path;
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    std::string rel = pending.back();
    pending.pop_back();
    const std::string path = rel.empty() ? src : src + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) Die(path);
    Dir d{rel, MetaOf(st), {}};
    std::error_code ec;
    for (const auto& de : std::filesystem::directory_iterator(path, ec)) {
      const std::string name = de.path().filename().string();
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      const std::string child = de.path().string();
      if (::lstat(child.c_str(), &st) != 0) Die(child);
      if (S_ISDIR(st.st_mode)) {
        pending.push_back(child_rel);
        continue;
      }
      Entry e{name, MetaOf(st), {}, false, {}};
      if (S_ISLNK(st.st_mode)) {
        e.symlink = true;
        e.body.resize(st.st_size);
        if (::readlink(child.c_str(), e.body.data(), e.body.size()) != st.st_size) Die(child);
      } else if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1) {
          auto [it, fresh] = first_path.emplace(std::make_pair(st.st_dev, st.st_ino), child_rel);
          if (!fresh) {
            e.link_src = it->second;
            d.entries.push_back(std::move(e));
            continue;
          }
        }
        e.body.resize(st.st_size);
        const int fd = ::open(child.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) Die(child);
        std::size_t got = 0;
        while (got < e.body.size()) {
          const ssize_t n = ::read(fd, e.body.data() + got, e.body.size() - got);
          if (n <= 0) Die(child);
          got += static_cast<std::size_t>(n);
        }
        ::close(fd);
        *bytes += e.body.size();
      } else {
        continue;  // devices, fifos: a spool has none
      }
      d.entries.push_back(std::move(e));
    }
    if (ec) {
      errno = ec.value();
      Die(path);
    }
    dirs->push_back(std::move(d));
  }
}

double Seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mr_write_floor SRC DST [JOBS]\n");
    return 2;
  }
  const std::string src = argv[1], dst = argv[2];
  const unsigned jobs = argc > 3 ? static_cast<unsigned>(std::atoi(argv[3])) : std::thread::hardware_concurrency();
  std::vector<Dir> dirs;
  std::uint64_t bytes = 0;
  Load(src, &dirs, &bytes);
  const bool root = ::geteuid() == 0;
  ::umask(0);
  // Directories first, on one thread (a few hundred); their times are set last.
  std::vector<int> dir_fd(dirs.size(), -1);
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const std::string path = dirs[i].rel.empty() ? dst : dst + "/" + dirs[i].rel;
    if (::mkdir(path.c_str(), 0700) != 0) Die(path);
  }
  const auto t0 = std::chrono::steady_clock::now();
  rusage r0;
  ::getrusage(RUSAGE_SELF, &r0);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  int dst_fd = ::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dst_fd < 0) Die(dst);
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < dirs.size();) {
      const Dir& d = dirs[i];
      const int dfd = d.rel.empty() ? ::dup(dst_fd) : ::openat(dst_fd, d.rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) { failed = true; return; }
      for (const Entry& e : d.entries) {
        if (!e.link_src.empty()) {
          if (::linkat(dst_fd, e.link_src.c_str(), dfd, e.name.c_str(), 0) != 0) failed = true;
          continue;
        }
        if (e.symlink) {
          if (::symlinkat(e.body.c_str(), dfd, e.name.c_str()) != 0) failed = true;
          if (root) ::fchownat(dfd, e.name.c_str(), e.meta.uid, e.meta.gid, AT_SYMLINK_NOFOLLOW);
          ::utimensat(dfd, e.name.c_str(), e.meta.times, AT_SYMLINK_NOFOLLOW);
          continue;
        }
        const int fd = ::openat(dfd, e.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e.meta.mode);
        if (fd < 0) { failed = true; continue; }
        if (!e.body.empty() && ::write(fd, e.body.data(), e.body.size()) != static_cast<ssize_t>(e.body.size())) failed = true;
        if (root && (e.meta.uid != 0 || e.meta.gid != 0) && ::fchown(fd, e.meta.uid, e.meta.gid) != 0) failed = true;
        if (::futimens(fd, e.meta.times) != 0) failed = true;
        ::close(fd);
      }
      dir_fd[i] = dfd;
    }
  };
  std::vector<std::thread> pool;
  for (unsigned j = 0; j < std::max(1u, jobs); ++j) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  // Directory metadata last (children change a directory's mtime), deepest first.
  std::size_t files = 0;
  for (std::size_t i = dirs.size(); i-- > 0;) {
    files += dirs[i].entries.size();
    if (dir_fd[i] < 0) continue;
    if (::fchmod(dir_fd[i], dirs[i].meta.mode) != 0) failed = true;
    if (root && ::fchown(dir_fd[i], dirs[i].meta.uid, dirs[i].meta.gid) != 0) failed = true;
    if (::futimens(dir_fd[i], dirs[i].meta.times) != 0) failed = true;
    ::close(dir_fd[i]);
  }
  const auto t1 = std::chrono::steady_clock::now();
  rusage r1;
  ::getrusage(RUSAGE_SELF, &r1);
  ::close(dst_fd);
  if (failed) {
    std::fprintf(stderr, "mr_write_floor: some entries of %s could not be created\n", dst.c_str());
    return 1;
  }
  const double cpu = Seconds(r1.ru_utime) - Seconds(r0.ru_utime) + Seconds(r1.ru_stime) - Seconds(r0.ru_stime);
  std::printf("files %zu dirs %zu bytes %llu wall %.3f cpu %.3f\n", files, dirs.size(),
              static_cast<unsigned long long>(bytes), std::chrono::duration<double>(t1 - t0).count(), cpu);
  return 0;
}
