// overlay_channel: what salvage's read-only io_managers share. An overlay
// (meta_overlay: rebuilt superblock bytes; journal_overlay: journal replay and
// fallback) decides how a read is served and forwards every other call to a
// channel of an inner io_manager opened on the real device.
//
// An overlay type declares one OverlayKind (a static object): its read
// function and how to build a channel's state. The kind supplies the rest of
// the io_manager: open (refuses IO_FLAG_RW with EROFS, opens the inner
// channel without it), close, every write, discard and zeroout failing with
// EXT2_ET_RO_FILSYS, and block size, option, stats and readahead forwarded to
// the inner channel. libext2fs's open callback only gets a name, so each
// overlay object registers under a process-unique name (Register) and
// unregisters before it dies (Unregister); the name is what ext2fs_open2 gets.
// Thread-safe: the registry is locked; each channel has its own state.
// REQUIRES: every handle opened under a name is closed before Unregister.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <memory>
#include <string>

namespace mr::salvage {

// A channel's state; an overlay type derives its own.
struct OverlayChan {
  virtual ~OverlayChan() = default;
  const void* overlay = nullptr;  // the registered overlay object
  io_channel inner = nullptr;     // the inner manager's channel, owned
};

class OverlayKind {
 public:
  using ReadFn = errcode_t (*)(io_channel, unsigned long long block, int count, void* data);
  // Builds the state of a new channel of `overlay` (inner and overlay are set after).
  using MakeFn = std::unique_ptr<OverlayChan> (*)(const void* overlay);

  OverlayKind(const char* manager_name, const char* name_prefix, ReadFn read, MakeFn make);
  OverlayKind(const OverlayKind&) = delete;
  OverlayKind& operator=(const OverlayKind&) = delete;

  io_manager manager() const { return const_cast<io_manager>(&manager_); }
  // Registers `overlay`, whose channels read `device` through `inner`; returns
  // the name to open it by.
  std::string Register(const void* overlay, std::string device, io_manager inner) const;
  static void Unregister(const std::string& name);
  // The state of `ch` when it was opened through this kind, else nullptr.
  OverlayChan* ChanOf(io_channel ch) const;
  MakeFn make() const { return make_; }

 private:
  struct_io_manager manager_{};
  const char* prefix_;
  MakeFn make_;
};

// The state of a channel opened through any OverlayKind.
inline OverlayChan* OverlayChanOf(io_channel ch) { return static_cast<OverlayChan*>(ch->private_data); }

// The byte range a read_blk64 request names: `count` blocks of the channel's
// block size, or -count bytes (an empty one is not checked). Fails with EXT2_ET_INVALID_ARGUMENT for a range
// past what a file offset can express (unix_io would wrap it to block 0).
errcode_t OverlayRequest(io_channel ch, unsigned long long block, int count, std::uint64_t* off,
                         std::uint64_t* size);

// Hands a failed read to the channel's read_error hook when one is set.
errcode_t OverlayReadFailed(io_channel ch, unsigned long long block, int count, void* data,
                            std::uint64_t size, errcode_t err);

}  // namespace mr::salvage
