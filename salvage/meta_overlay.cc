#include "salvage/meta_overlay.h"

#include <algorithm>
#include <cstring>

#include "salvage/overlay_channel.h"

namespace mr::salvage {
namespace {

errcode_t ReadBlk64(io_channel ch, unsigned long long block, int count, void* data) {
  OverlayChan* c = OverlayChanOf(ch);
  std::uint64_t off = 0, size = 0;
  if (errcode_t err = OverlayRequest(ch, block, count, &off, &size)) return err;
  if (size == 0) return 0;
  if (errcode_t err = io_channel_read_blk64(c->inner, block, count, data))
    return OverlayReadFailed(ch, block, count, data, size, err);
  const std::uint64_t end = off + size;
  auto* out = static_cast<std::uint8_t*>(data);
  const auto& patches = static_cast<const MetaOverlay*>(c->overlay)->patches();
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

const OverlayKind& Kind() {
  static const OverlayKind kind("mailrescue rebuilt-metadata overlay (read-only)", "mailrescue-meta-overlay-",
                                ReadBlk64, [](const void*) { return std::make_unique<OverlayChan>(); });
  return kind;
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
  std::unique_ptr<MetaOverlay> ov(new MetaOverlay(std::move(device), inner, std::move(patches)));
  ov->name_ = Kind().Register(ov.get(), ov->device_, inner);
  return ov;
}

MetaOverlay::~MetaOverlay() { OverlayKind::Unregister(name_); }

io_manager MetaOverlay::manager() const { return Kind().manager(); }

}  // namespace mr::salvage
