// meta_overlay: an io_manager that serves a few byte ranges of the source
// from memory (a superblock rebuilt by geometry.h, in place of the lost one)
// and forwards every other byte to an inner io_manager (SourceIoManager()).
//
// Why an io_manager and not a patched ext2_filsys: libext2fs can only be
// opened by reading a superblock through an io_channel, and every worker
// opens its own handle (Volume::Open) from one OpenPlan. Serving the rebuilt
// bytes at the channel makes each of those handles, and the journal overlay
// stacked on top (its `inner` is this manager), see one identical filesystem
// without a single write: the rebuilt superblock is never written anywhere.
//
// Contract: the patches are fixed at Create and immutable; reads overlapping
// them return the patch bytes, the rest comes from the inner channel (with
// its read-error policy). The rest of the read-only io_manager (no writes,
// the registry by name, forwarding) is overlay_channel.h's. Thread-safe: one
// overlay backs one handle per worker (each handle has its own channel).
// REQUIRES: every handle opened through an overlay is closed before it is destroyed.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

class MetaOverlay {
 public:
  // `device`: the name the inner manager opens. `patches`: byte offset -> bytes
  // served instead of the device's (non-overlapping).
  static Result<std::unique_ptr<MetaOverlay>> Create(std::string device, io_manager inner,
                                                     std::map<std::uint64_t, std::vector<std::uint8_t>> patches);
  ~MetaOverlay();
  MetaOverlay(const MetaOverlay&) = delete;
  MetaOverlay& operator=(const MetaOverlay&) = delete;

  io_manager manager() const;
  const std::string& name() const { return name_; }  // pass to ext2fs_open2 with manager()
  const std::string& device() const { return device_; }
  io_manager inner() const { return inner_; }
  const std::map<std::uint64_t, std::vector<std::uint8_t>>& patches() const { return patches_; }

 private:
  MetaOverlay(std::string device, io_manager inner, std::map<std::uint64_t, std::vector<std::uint8_t>> patches)
      : device_(std::move(device)), inner_(inner), patches_(std::move(patches)) {}
  std::string device_;
  io_manager inner_;
  std::string name_;
  std::map<std::uint64_t, std::vector<std::uint8_t>> patches_;
};

}  // namespace mr::salvage
