#include "salvage/prefetch.h"

#include <fcntl.h>
#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "salvage/blockmap.h"
#include "salvage/inode.h"

namespace mr::salvage {
namespace {

}  // namespace

void RangeHinter::Add(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return;
  if (len_ > 0 && offset == off_ + len_ && len_ + length <= MaxHint()) {
    len_ += length;
    return;
  }
  Flush();
  off_ = offset;
  len_ = length;
}

void RangeHinter::Flush() {
  if (len_ == 0) return;
  const std::uint64_t end = std::min(off_ + len_, src_.size());
  std::uint64_t pos = off_;
  len_ = 0;
  bool probed = false;
  auto hint = [&](std::uint64_t a, std::uint64_t b) {
    if (a >= b) return;
    if (!probed) {
      probed = true;
      char byte;
      iovec iov{&byte, 1};
      ++hints_;
      found_ += ::preadv2(src_.fd(), &iov, 1, static_cast<off_t>(a), RWF_NOWAIT) == 1;
    }
    ::posix_fadvise(src_.fd(), static_cast<off_t>(a), static_cast<off_t>(b - a), POSIX_FADV_WILLNEED);
  };
  if (pos >= end) return;
  for (const auto& bad : src_.badmap().Overlaps(pos, end - pos)) {
    hint(pos, bad.offset);
    pos = bad.end();
  }
  hint(pos, end);
}

Prefetcher::Prefetcher(Volume* handle, std::size_t count, std::function<std::uint32_t(std::size_t)> ino_of,
                       const std::atomic<std::size_t>* progress, std::uint64_t window)
    : v_(handle), count_(count), ino_of_(std::move(ino_of)), progress_(progress), window_(window) {
  thread_ = std::thread([this] { Run(); });
}

Prefetcher::~Prefetcher() {
  stop_.store(true);
  thread_.join();
}

void Prefetcher::Run() {
  try {
    ext2_filsys fs = v_->fs();
    const std::uint64_t bs = fs->blocksize;
    const std::uint64_t fs_blocks = ext2fs_blocks_count(fs->super);
    RangeHinter hint(*v_->source());
    auto warm = [&] { return hint.Warm(); };
    std::vector<std::uint64_t> ahead(count_ + 1, 0);  // bytes mapped for items before i
    BlockMap map;
    for (std::size_t i = 0; i < count_ && !stop_.load(std::memory_order_relaxed); ++i) {
      std::size_t p = progress_->load(std::memory_order_relaxed);
      if (p >= count_) break;
      if (p > i) {  // the workers overtook us: what is behind them needs no hint
        for (std::size_t j = i + 1; j <= p; ++j) ahead[j] = ahead[i];
        hint.Drop();
        i = p;
      }
      while (ahead[i] - ahead[std::min(p, i)] > window_) {
        hint.Flush();
        if (warm()) return;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        if (stop_.load(std::memory_order_relaxed)) return;
        p = progress_->load(std::memory_order_relaxed);
        if (p >= count_) return;
      }
      std::uint64_t added = 0;
      auto in = ReadInode(fs, ino_of_(i));
      if (in.ok() && in->live && IsReg(in->mode) && !(in->flags & EXT4_INLINE_DATA_FL) && in->size > 0) {
        const std::uint64_t nblocks = std::min((in->size + bs - 1) / bs, fs_blocks);
        MapBlocks(fs, *reinterpret_cast<const ext2_inode*>(&in->raw), nblocks, &map);
        for (const auto& r : map.runs) {
          if (r.uninit) continue;
          if (added >= window_) break;  // a huge file: its own sequential reads take over
          hint.Add(r.pblk * bs, r.len * bs);
          added += r.len * bs;
        }
      }
      ahead[i + 1] = ahead[i] + added;
      if (warm()) return;
    }
    hint.Flush();
  } catch (...) {
    // A hint is never needed for correctness: stop hinting, extraction goes on.
  }
}

}  // namespace mr::salvage
