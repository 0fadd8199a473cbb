#include "salvage/source.h"

#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

namespace mr::salvage {
namespace {

constexpr std::uint64_t kSector = 512;
constexpr size_t kMaxRecorded = 1u << 16;  // cap on remembered ranges (memory bound)

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<Source>>& Registry() {
  static std::map<std::string, std::weak_ptr<Source>> r;
  return r;
}
std::atomic<unsigned> g_next_id{1};

thread_local ReadDamageScope* t_scope = nullptr;

}  // namespace

ReadDamageScope::ReadDamageScope(bool isolate) : prev_(t_scope), isolate_(isolate) { t_scope = this; }
ReadDamageScope::~ReadDamageScope() { t_scope = prev_; }
void ReadDamageScope::Note(const std::vector<ByteRange>& r) {
  if (r.empty()) return;
  for (ReadDamageScope* s = t_scope; s; s = s->isolate_ ? nullptr : s->prev_)
    s->ranges_.insert(s->ranges_.end(), r.begin(), r.end());
}

Result<std::shared_ptr<Source>> Source::Open(Options opts) {
  std::shared_ptr<Source> s(new Source(std::move(opts)));
  s->fd_ = ::open(s->opts_.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (s->fd_ < 0) {
    int e = errno;
    return Error{Code::kCannotOpen, "cannot open " + s->opts_.path + " read-only: " + std::strerror(e)};
  }
  struct stat st {};
  if (fstat(s->fd_, &st) != 0)
    return Error{Code::kCannotOpen, "cannot stat " + s->opts_.path + ": " + std::strerror(errno)};
  if (S_ISBLK(st.st_mode)) {
    std::uint64_t bytes = 0;
    if (ioctl(s->fd_, BLKGETSIZE64, &bytes) != 0)
      return Error{Code::kCannotOpen, "cannot get the size of device " + s->opts_.path + ": " +
                                          std::strerror(errno)};
    s->size_ = bytes;
  } else if (S_ISREG(st.st_mode)) {
    s->size_ = static_cast<std::uint64_t>(st.st_size);
  } else {
    return Error{Code::kCannotOpen, s->opts_.path + ": not a block device or image file"};
  }
  s->channel_name_ = "mailrescue-source:" + std::to_string(g_next_id++);
  std::lock_guard<std::mutex> lk(g_registry_mu);
  Registry()[s->channel_name_] = s;
  return s;
}

Source::~Source() {
  {
    std::lock_guard<std::mutex> lk(g_registry_mu);
    Registry().erase(channel_name_);
  }
  if (fd_ >= 0) ::close(fd_);
}

std::shared_ptr<Source> Source::FromChannelName(const std::string& name) {
  std::lock_guard<std::mutex> lk(g_registry_mu);
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : it->second.lock();
}

void Source::Record(const std::vector<ByteRange>& r) {
  if (r.empty()) return;
  ReadDamageScope::Note(r);
  std::lock_guard<std::mutex> lk(mu_);
  unreadable_.insert(unreadable_.end(), r.begin(), r.end());
  if (unreadable_.size() > 1024) MergeRanges(&unreadable_);
  if (unreadable_.size() > kMaxRecorded) unreadable_.resize(kMaxRecorded);
}

std::vector<ByteRange> Source::Unreadable() const {
  std::lock_guard<std::mutex> lk(mu_);
  auto r = unreadable_;
  MergeRanges(&r);
  return r;
}

ssize_t Source::Pread(char* buf, std::uint64_t len, std::uint64_t off) {
  if (opts_.read_fn) return opts_.read_fn(fd_, buf, static_cast<std::size_t>(len), static_cast<off_t>(off));
  return ::pread(fd_, buf, static_cast<std::size_t>(len), static_cast<off_t>(off));
}

// Reads len bytes at off (the caller clipped to the source size), at most
// `attempts` failed tries. got = bytes read before the first failure that
// ended it; end_of_source = the source shrank under us (a read returned 0).
Source::RegionRead Source::ReadRegion(std::uint64_t off, char* buf, std::uint64_t len, int attempts) {
  std::uint64_t done = 0;
  int failures = 0, interrupts = 0;
  while (done < len) {
    ssize_t n = Pread(buf + done, len - done, off + done);
    if (n > 0) {
      done += std::min(static_cast<std::uint64_t>(n), len - done);
      interrupts = 0;
      continue;
    }
    if (n < 0 && errno == EINTR && ++interrupts <= kMaxInterrupts) continue;
    if (n == 0) return {false, done, true};
    interrupts = 0;
    if (++failures >= attempts) return {false, done, false};
  }
  return {true, done, false};
}

std::vector<ByteRange> Source::ReadAt(std::uint64_t offset, void* out, std::uint64_t len) {
  char* buf = static_cast<char*>(out);
  std::vector<ByteRange> zeroed;
  // Beyond the end of the source.
  std::uint64_t readable = 0;
  if (offset < size_) readable = std::min(len, size_ - offset);
  if (readable < len) {
    std::memset(buf + readable, 0, len - readable);
    zeroed.push_back({offset + readable, len - readable});
  }
  // Walk the readable part, skipping the badmap's ranges.
  std::uint64_t pos = offset;
  const std::uint64_t end = offset + readable;
  auto bad = opts_.badmap.Overlaps(offset, readable);
  auto zero = [&](std::uint64_t s, std::uint64_t e) {
    if (s >= e) return;
    std::memset(buf + (s - offset), 0, e - s);
    if (!zeroed.empty() && zeroed.back().end() == s)
      zeroed.back().length += e - s;
    else
      zeroed.push_back({s, e - s});
  };
  auto read_good = [&](std::uint64_t s, std::uint64_t e) {
    if (s >= e) return;
    RegionRead r = ReadRegion(s, buf + (s - offset), e - s, 1 + opts_.retries);
    if (r.ok) return;
    if (r.end_of_source) return zero(s + r.got, e);  // shrank: the rest is beyond the end
    // Persistent error: sector by sector from where it failed, one attempt
    // each, zero-filling only what fails (bytes read before a failure stay).
    for (std::uint64_t a = s + r.got; a < e;) {
      std::uint64_t b = std::min(e, (a / kSector + 1) * kSector);
      RegionRead rs = ReadRegion(a, buf + (a - offset), b - a, 1);
      if (rs.end_of_source) return zero(a + rs.got, e);
      if (!rs.ok) zero(a + rs.got, b);
      a = b;
    }
  };
  for (const auto& b : bad) {
    read_good(pos, b.offset);
    zero(b.offset, b.end());
    pos = b.end();
  }
  read_good(pos, end);
  MergeRanges(&zeroed);
  Record(zeroed);
  return zeroed;
}

// ---------------------------------------------------------------------------
// io_manager

namespace {

struct ChannelData {
  std::shared_ptr<Source> src;
};

errcode_t SrcOpen(const char* name, int flags, io_channel* channel);

errcode_t SrcClose(io_channel ch) {
  if (--ch->refcount > 0) return 0;
  delete static_cast<ChannelData*>(ch->private_data);
  std::free(ch->name);
  std::free(ch);
  return 0;
}

errcode_t SrcSetBlksize(io_channel ch, int blksize) {
  if (blksize <= 0) return EXT2_ET_INVALID_ARGUMENT;
  ch->block_size = blksize;
  return 0;
}

errcode_t SrcRead64(io_channel ch, unsigned long long block, int count, void* data) {
  auto* cd = static_cast<ChannelData*>(ch->private_data);
  std::uint64_t bytes = count < 0 ? static_cast<std::uint64_t>(-static_cast<long long>(count))
                                  : static_cast<std::uint64_t>(count) * ch->block_size;
  std::uint64_t off = block * static_cast<std::uint64_t>(ch->block_size);
  if (ch->block_size != 0 && block > (~0ull) / static_cast<unsigned>(ch->block_size))
    return EXT2_ET_LLSEEK_FAILED;
  cd->src->ReadAt(off, data, bytes);
  return 0;
}

errcode_t SrcRead(io_channel ch, unsigned long block, int count, void* data) {
  return SrcRead64(ch, block, count, data);
}

errcode_t SrcWrite(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t SrcWrite64(io_channel, unsigned long long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t SrcWriteByte(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t SrcFlush(io_channel) { return 0; }
errcode_t SrcSetOption(io_channel, const char*, const char*) { return EXT2_ET_INVALID_ARGUMENT; }
errcode_t SrcDiscard(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_RO_FILSYS; }
errcode_t SrcZeroout(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_RO_FILSYS; }

struct struct_io_manager g_manager = [] {
  struct struct_io_manager m;
  std::memset(&m, 0, sizeof m);
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "mailrescue read-only source";
  m.open = SrcOpen;
  m.close = SrcClose;
  m.set_blksize = SrcSetBlksize;
  m.read_blk = SrcRead;
  m.write_blk = SrcWrite;
  m.flush = SrcFlush;
  m.write_byte = SrcWriteByte;
  m.set_option = SrcSetOption;
  m.read_blk64 = SrcRead64;
  m.write_blk64 = SrcWrite64;
  m.discard = SrcDiscard;
  m.zeroout = SrcZeroout;
  return m;
}();

errcode_t SrcOpen(const char* name, int flags, io_channel* channel) {
  if (!name || !channel) return EXT2_ET_BAD_DEVICE_NAME;
  if (flags & (IO_FLAG_RW | IO_FLAG_EXCLUSIVE)) return EXT2_ET_RO_FILSYS;
  auto src = Source::FromChannelName(name);
  if (!src) return EXT2_ET_BAD_DEVICE_NAME;
  auto* ch = static_cast<io_channel>(std::calloc(1, sizeof(struct struct_io_channel)));
  if (!ch) return EXT2_ET_NO_MEMORY;
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = &g_manager;
  ch->name = strdup(name);
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = new ChannelData{std::move(src)};
  *channel = ch;
  return 0;
}

}  // namespace

io_manager SourceIoManager() { return &g_manager; }

}  // namespace mr::salvage
