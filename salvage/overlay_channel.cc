#include "salvage/overlay_channel.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace mr::salvage {
namespace {

struct Entry {
  const OverlayKind* kind;
  const void* overlay;
  std::string device;
  io_manager inner;
};

// name -> live overlay, for every kind. Channels keep raw pointers: overlays
// outlive their handles.
struct Registry {
  std::mutex mu;
  std::map<std::string, Entry> live;
  std::uint64_t next_id = 1;
};

Registry& Reg() {
  static Registry r;
  return r;
}

io_channel Inner(io_channel ch) { return OverlayChanOf(ch)->inner; }

errcode_t ReadBlk(io_channel ch, unsigned long block, int count, void* data) {
  return ch->manager->read_blk64(ch, block, count, data);
}

errcode_t WriteBlk(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t WriteBlk64(io_channel, unsigned long long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t WriteByte(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t Discard(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_RO_FILSYS; }
errcode_t Zeroout(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_RO_FILSYS; }
errcode_t Flush(io_channel) { return 0; }  // nothing is ever dirty

errcode_t SetBlksize(io_channel ch, int blksize) {
  errcode_t err = io_channel_set_blksize(Inner(ch), blksize);
  if (!err) ch->block_size = blksize;
  return err;
}

errcode_t SetOption(io_channel ch, const char* option, const char* arg) {
  io_channel inner = Inner(ch);
  if (!inner->manager->set_option) return EXT2_ET_INVALID_ARGUMENT;
  return inner->manager->set_option(inner, option, arg);
}

errcode_t GetStats(io_channel ch, io_stats* stats) {
  io_channel inner = Inner(ch);
  if (!inner->manager->get_stats) return EXT2_ET_OP_NOT_SUPPORTED;
  return inner->manager->get_stats(inner, stats);
}

errcode_t Readahead(io_channel ch, unsigned long long block, unsigned long long count) {
  io_channel inner = Inner(ch);
  if (!inner->manager->cache_readahead) return EXT2_ET_OP_NOT_SUPPORTED;
  return inner->manager->cache_readahead(inner, block, count);
}

errcode_t Close(io_channel ch) {
  if (--ch->refcount > 0) return 0;
  OverlayChan* c = OverlayChanOf(ch);
  errcode_t err = io_channel_close(c->inner);
  delete c;
  std::free(ch->name);
  std::free(ch);
  return err;
}

errcode_t Open(const char* name, int flags, io_channel* out) {
  if (!name || !out) return EXT2_ET_INVALID_ARGUMENT;
  if (flags & IO_FLAG_RW) return EROFS;
  Entry e;
  {
    std::lock_guard<std::mutex> lock(Reg().mu);
    auto it = Reg().live.find(name);
    if (it == Reg().live.end()) return EXT2_ET_BAD_DEVICE_NAME;
    e = it->second;
  }
  io_channel inner = nullptr;
  if (errcode_t err = e.inner->open(e.device.c_str(), flags & ~IO_FLAG_RW, &inner)) return err;
  std::unique_ptr<OverlayChan> state;
  try {
    state = e.kind->make()(e.overlay);
  } catch (...) {
    io_channel_close(inner);
    return EXT2_ET_NO_MEMORY;
  }
  auto* ch = static_cast<io_channel>(std::calloc(1, sizeof(struct_io_channel)));
  char* dup = strdup(name);
  if (!ch || !dup) {
    std::free(ch);
    std::free(dup);
    io_channel_close(inner);
    return EXT2_ET_NO_MEMORY;
  }
  state->overlay = e.overlay;
  state->inner = inner;
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = e.kind->manager();
  ch->name = dup;
  ch->block_size = inner->block_size;
  ch->refcount = 1;
  ch->flags = inner->flags;
  ch->align = inner->align;
  ch->private_data = state.release();
  *out = ch;
  return 0;
}

}  // namespace

OverlayKind::OverlayKind(const char* manager_name, const char* name_prefix, ReadFn read, MakeFn make)
    : prefix_(name_prefix), make_(make) {
  manager_.magic = EXT2_ET_MAGIC_IO_MANAGER;
  manager_.name = manager_name;
  manager_.open = Open;
  manager_.close = Close;
  manager_.set_blksize = SetBlksize;
  manager_.read_blk = ReadBlk;
  manager_.write_blk = WriteBlk;
  manager_.flush = Flush;
  manager_.write_byte = WriteByte;
  manager_.set_option = SetOption;
  manager_.get_stats = GetStats;
  manager_.read_blk64 = read;
  manager_.write_blk64 = WriteBlk64;
  manager_.discard = Discard;
  manager_.cache_readahead = Readahead;
  manager_.zeroout = Zeroout;
}

std::string OverlayKind::Register(const void* overlay, std::string device, io_manager inner) const {
  std::lock_guard<std::mutex> lock(Reg().mu);
  std::string name = prefix_ + std::to_string(Reg().next_id++);
  Reg().live[name] = Entry{this, overlay, std::move(device), inner};
  return name;
}

void OverlayKind::Unregister(const std::string& name) {
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().live.erase(name);
}

OverlayChan* OverlayKind::ChanOf(io_channel ch) const {
  if (!ch || ch->manager != &manager_) return nullptr;
  return OverlayChanOf(ch);
}

errcode_t OverlayRequest(io_channel ch, unsigned long long block, int count, std::uint64_t* off,
                         std::uint64_t* size) {
  const std::uint64_t cbs = static_cast<std::uint64_t>(ch->block_size);
  *size = count < 0 ? static_cast<std::uint64_t>(-static_cast<std::int64_t>(count))
                    : static_cast<std::uint64_t>(count) * cbs;
  *off = 0;
  if (*size == 0) return 0;
  constexpr std::uint64_t kMaxOffset = static_cast<std::uint64_t>(INT64_MAX);
  if (cbs == 0 || block > kMaxOffset / cbs || block * cbs > kMaxOffset - *size) return EXT2_ET_INVALID_ARGUMENT;
  *off = block * cbs;
  return 0;
}

errcode_t OverlayReadFailed(io_channel ch, unsigned long long block, int count, void* data,
                            std::uint64_t size, errcode_t err) {
  if (ch->read_error)
    return ch->read_error(ch, static_cast<unsigned long>(block), count, data, static_cast<size_t>(size), 0, err);
  return err;
}

}  // namespace mr::salvage
