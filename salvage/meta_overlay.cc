#include "salvage/meta_overlay.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace mr::salvage {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, const MetaOverlay*> live;
  std::uint64_t next_id = 1;
};

Registry& Reg() {
  static Registry r;
  return r;
}

struct Chan {
  const MetaOverlay* overlay;
  io_channel inner;
};

Chan* Of(io_channel ch) { return static_cast<Chan*>(ch->private_data); }

errcode_t ReadBlk64(io_channel ch, unsigned long long block, int count, void* data) {
  Chan* c = Of(ch);
  const std::uint64_t cbs = static_cast<std::uint64_t>(ch->block_size);
  const std::uint64_t size = count < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(count))
                                       : static_cast<std::uint64_t>(count) * cbs;
  if (size == 0) return 0;
  constexpr std::uint64_t kMaxOffset = static_cast<std::uint64_t>(INT64_MAX);
  if (cbs == 0 || block > kMaxOffset / cbs || block * cbs > kMaxOffset - size) return EXT2_ET_INVALID_ARGUMENT;
  if (errcode_t err = io_channel_read_blk64(c->inner, block, count, data)) {
    if (ch->read_error) return ch->read_error(ch, static_cast<unsigned long>(block), count, data, size, 0, err);
    return err;
  }
  const std::uint64_t off = block * cbs, end = off + size;
  auto* out = static_cast<std::uint8_t*>(data);
  const auto& patches = c->overlay->patches();
  // The first patch that may overlap: the one starting at or before `off`, if it reaches past it.
  auto it = patches.upper_bound(off);
  if (it != patches.begin()) --it;
  for (; it != patches.end() && it->first < end; ++it) {
    const std::uint64_t ps = it->first, pe = ps + it->second.size();
    const std::uint64_t s = std::max(ps, off), e = std::min(pe, end);
    if (s < e) std::memcpy(out + (s - off), it->second.data() + (s - ps), e - s);
  }
  return 0;
}

errcode_t ReadBlk(io_channel ch, unsigned long block, int count, void* data) {
  return ReadBlk64(ch, block, count, data);
}

errcode_t WriteBlk(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t WriteBlk64(io_channel, unsigned long long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t WriteByte(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t Discard(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_RO_FILSYS; }
errcode_t Zeroout(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_RO_FILSYS; }
errcode_t Flush(io_channel) { return 0; }

errcode_t SetBlksize(io_channel ch, int blksize) {
  errcode_t err = io_channel_set_blksize(Of(ch)->inner, blksize);
  if (!err) ch->block_size = blksize;
  return err;
}

errcode_t SetOption(io_channel ch, const char* option, const char* arg) {
  io_channel inner = Of(ch)->inner;
  if (!inner->manager->set_option) return EXT2_ET_INVALID_ARGUMENT;
  return inner->manager->set_option(inner, option, arg);
}

errcode_t Close(io_channel ch) {
  if (--ch->refcount > 0) return 0;
  Chan* c = Of(ch);
  errcode_t err = io_channel_close(c->inner);
  delete c;
  std::free(ch->name);
  std::free(ch);
  return err;
}

errcode_t Open(const char* name, int flags, io_channel* out);

struct_io_manager MakeManager() {
  struct_io_manager m{};
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "mailrescue rebuilt-metadata overlay (read-only)";
  m.open = Open;
  m.close = Close;
  m.set_blksize = SetBlksize;
  m.read_blk = ReadBlk;
  m.write_blk = WriteBlk;
  m.flush = Flush;
  m.write_byte = WriteByte;
  m.set_option = SetOption;
  m.read_blk64 = ReadBlk64;
  m.write_blk64 = WriteBlk64;
  m.discard = Discard;
  m.zeroout = Zeroout;
  return m;
}

struct_io_manager g_manager = MakeManager();

errcode_t Open(const char* name, int flags, io_channel* out) {
  if (!name || !out) return EXT2_ET_INVALID_ARGUMENT;
  if (flags & IO_FLAG_RW) return EROFS;
  const MetaOverlay* ov = nullptr;
  {
    std::lock_guard<std::mutex> lock(Reg().mu);
    auto it = Reg().live.find(name);
    if (it == Reg().live.end()) return EXT2_ET_BAD_DEVICE_NAME;
    ov = it->second;
  }
  io_channel inner = nullptr;
  if (errcode_t err = ov->inner()->open(ov->device().c_str(), flags & ~IO_FLAG_RW, &inner)) return err;
  auto* ch = static_cast<io_channel>(std::calloc(1, sizeof(struct_io_channel)));
  char* dup = strdup(name);
  if (!ch || !dup) {
    std::free(ch);
    std::free(dup);
    io_channel_close(inner);
    return EXT2_ET_NO_MEMORY;
  }
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = &g_manager;
  ch->name = dup;
  ch->block_size = inner->block_size;
  ch->refcount = 1;
  ch->flags = inner->flags;
  ch->align = inner->align;
  ch->private_data = new Chan{ov, inner};
  *out = ch;
  return 0;
}

}  // namespace

Result<std::unique_ptr<MetaOverlay>> MetaOverlay::Create(std::string device, io_manager inner,
                                                         std::map<std::uint64_t, std::vector<std::uint8_t>> patches) {
  if (!inner || inner->magic != EXT2_ET_MAGIC_IO_MANAGER || !inner->open)
    return Error{Code::kInvalidArgument, "metadata overlay: invalid inner io_manager"};
  if (device.empty()) return Error{Code::kInvalidArgument, "metadata overlay: empty device name"};
  std::uint64_t end = 0;
  for (const auto& [off, bytes] : patches) {
    if (off < end) return Error{Code::kInvalidArgument, "metadata overlay: overlapping patches"};
    end = off + bytes.size();
  }
  std::lock_guard<std::mutex> lock(Reg().mu);
  std::string name = "mailrescue-meta-overlay-" + std::to_string(Reg().next_id++);
  std::unique_ptr<MetaOverlay> ov(new MetaOverlay(std::move(device), inner, name, std::move(patches)));
  Reg().live[name] = ov.get();
  return ov;
}

MetaOverlay::~MetaOverlay() {
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().live.erase(name_);
}

io_manager MetaOverlay::manager() const { return &g_manager; }

}  // namespace mr::salvage
