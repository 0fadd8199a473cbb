#include "salvage/journal_overlay.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "salvage/ext2_error.h"
#include "salvage/overlay_channel.h"
#include "salvage/source.h"

namespace mr::salvage {

namespace {

struct Chan : OverlayChan {
  const JournalOverlay* journal_overlay() const { return static_cast<const JournalOverlay*>(overlay); }
  std::vector<uint8_t> scratch;  // one filesystem block
  JournalCopy copy;              // the copy last read into scratch by the fallback
};

thread_local JournalFallbackScope* t_fallback_scope = nullptr;

Chan* Of(io_channel ch) { return static_cast<Chan*>(OverlayChanOf(ch)); }

// Reads `len` bytes at byte offset `off` of the inner channel, whatever its block size.
errcode_t ReadBytes(io_channel inner, uint64_t off, size_t len, uint8_t* dst) {
  const uint64_t cbs = static_cast<uint64_t>(inner->block_size);
  if (len == 0) return 0;
  if (cbs == 0 || len > INT_MAX) return EXT2_ET_INVALID_ARGUMENT;
  if (off % cbs == 0) return io_channel_read_blk64(inner, off / cbs, -static_cast<int>(len), dst);
  const uint64_t first = off / cbs, last = (off + len + cbs - 1) / cbs;
  const uint64_t span = (last - first) * cbs;
  if (span > INT_MAX) return EXT2_ET_INVALID_ARGUMENT;
  std::vector<uint8_t> tmp(span);
  errcode_t err = io_channel_read_blk64(inner, first, -static_cast<int>(span), tmp.data());
  if (err) return err;
  std::memcpy(dst, tmp.data() + (off - first * cbs), len);
  return 0;
}

// Reads [off, end) of the request into `out`: replay-map blocks (when
// replaying) from their journal copies, the rest from the inner channel.
// Unreadable bytes (zero-filled below) are appended to *damaged in request
// offsets; an unreadable replay copy damages its whole segment.
errcode_t ReadSegments(Chan* c, uint64_t off, uint64_t end, uint8_t* out, std::vector<ByteRange>* damaged) {
  const Journal& j = c->journal_overlay()->journal();
  const auto& map = j.replay_map();
  const bool replay = c->journal_overlay()->replaying();
  const uint64_t bs = j.blocksize();
  uint64_t pos = off, served = 0;
  while (pos < end) {
    const uint64_t f = pos / bs;
    auto it = replay ? map.lower_bound(f) : map.end();
    if (it != map.end() && it->first == f) {
      const uint64_t seg_end = std::min(end, (f + 1) * bs);
      const uint64_t phys = j.PhysicalOf(it->second.journal_block);
      ReadDamageScope capture(true);
      errcode_t err = phys ? ReadBytes(c->inner, phys * bs, bs, c->scratch.data()) : EXT2_ET_SHORT_READ;
      if (err) return err;
      if (it->second.escaped) jbd2::PutBe32(c->scratch, 0, jbd2::kMagic);
      std::memcpy(out + (pos - off), c->scratch.data() + (pos - f * bs), seg_end - pos);
      if (capture.ranges().empty()) ++served;
      else damaged->push_back({pos, seg_end - pos});
      pos = seg_end;
    } else {
      const uint64_t run_end = it == map.end() ? end : std::min(end, it->first * bs);
      ReadDamageScope capture(true);
      errcode_t err = ReadBytes(c->inner, pos, run_end - pos, out + (pos - off));
      if (err) return err;
      for (const auto& r : capture.ranges()) {
        const uint64_t s = std::max(r.offset, pos), e = std::min(r.end(), run_end);
        if (s < e) damaged->push_back({s, e - s});
      }
      pos = run_end;
    }
  }
  c->journal_overlay()->CountServed(served);
  return 0;
}

// Reads journal copy `cp` into c->scratch; true when it came back whole.
bool ReadCopyWhole(Chan* c, const JournalCopy& cp) {
  const Journal& j = c->journal_overlay()->journal();
  const uint64_t bs = j.blocksize(), phys = j.PhysicalOf(cp.journal_block);
  if (phys == 0) return false;
  ReadDamageScope capture(true);
  if (ReadBytes(c->inner, phys * bs, bs, c->scratch.data()) != 0 || !capture.ranges().empty()) return false;
  if (cp.escaped) jbd2::PutBe32(c->scratch, 0, jbd2::kMagic);
  return true;
}

// Every copy of `f` worth trying, newest first (the replay copy when it was
// not already tried by ReadSegments).
std::vector<JournalCopy> Candidates(Chan* c, uint64_t f) {
  const Journal& j = c->journal_overlay()->journal();
  const uint64_t bs = j.blocksize();
  JournalBlockReader read = [c, &j, bs](uint32_t lblk, std::span<uint8_t> buf) -> Status {
    const uint64_t phys = j.PhysicalOf(lblk);
    if (phys == 0) return Error{Code::kCorrupt, "journal block " + std::to_string(lblk) + " is not mapped"};
    if (buf.size() != bs) return Error{Code::kInternal, "journal block buffer is not one block long"};
    // A zero-filled read (badmap, I/O error) is an unreadable block, not a block of
    // zeros: the scavenge counts it against its error budget.
    ReadDamageScope one(true);
    errcode_t err = ReadBytes(c->inner, phys * bs, bs, buf.data());
    if (err) return Ext2Error("journal block " + std::to_string(lblk), err);
    if (!one.ranges().empty()) return Error{Code::kIoError, "journal block " + std::to_string(lblk) + " is unreadable"};
    return Status::Ok();
  };
  ReadDamageScope capture(true);  // the first call reads the whole journal: not the caller's damage
  std::vector<JournalCopy> out;
  if (!c->journal_overlay()->replaying())
    if (const JournalCopy* r = j.Lookup(f)) out.push_back(*r);
  auto older = j.OlderCopies(read, f);
  out.insert(out.end(), older.begin(), older.end());
  return out;
}

// Replaces the `damaged` bytes of the request [off, end) from older journal
// copies where one reads back whole; returns what is still damaged.
std::vector<ByteRange> FallBack(Chan* c, uint64_t off, uint8_t* out, std::vector<ByteRange> damaged) {
  const uint64_t bs = c->journal_overlay()->journal().blocksize();
  MergeRanges(&damaged);
  std::vector<ByteRange> left;
  uint64_t last_f = UINT64_MAX;
  bool last_ok = false;
  for (const auto& d : damaged) {
    for (uint64_t f = d.offset / bs; f * bs < d.end(); ++f) {
      const uint64_t s = std::max(d.offset, f * bs), e = std::min(d.end(), (f + 1) * bs);
      if (f != last_f) {
        last_f = f;
        last_ok = false;
        for (const auto& cp : Candidates(c, f)) {
          if (!ReadCopyWhole(c, cp)) continue;
          last_ok = true;
          c->journal_overlay()->NoteFallback(cp);
          c->copy = cp;
          break;
        }
      }
      if (!last_ok) {
        left.push_back({s, e - s});
        continue;
      }
      std::memcpy(out + (s - off), c->scratch.data() + (s - f * bs), e - s);
      JournalFallbackScope::Note({{s, e - s}, c->copy});
    }
  }
  return left;
}

errcode_t ReadBlk64(io_channel ch, unsigned long long block, int count, void* data) {
  Chan* c = Of(ch);
  uint64_t off = 0, size = 0;
  if (errcode_t err = OverlayRequest(ch, block, count, &off, &size)) return err;
  if (size == 0) return 0;
  const uint64_t end = off + size;
  uint8_t* out = static_cast<uint8_t*>(data);
  std::vector<ByteRange> damaged;
  if (errcode_t err = ReadSegments(c, off, end, out, &damaged))
    return OverlayReadFailed(ch, block, count, data, size, err);
  if (!damaged.empty() && c->journal_overlay()->falls_back()) damaged = FallBack(c, off, out, std::move(damaged));
  ReadDamageScope::Note(damaged);
  return 0;
}

const OverlayKind& Kind() {
  static const OverlayKind kind("mailrescue journal overlay (read-only)", "mailrescue-journal-overlay-", ReadBlk64,
                                [](const void* ov) -> std::unique_ptr<OverlayChan> {
                                  auto c = std::make_unique<Chan>();
                                  c->scratch.resize(static_cast<const JournalOverlay*>(ov)->journal().blocksize());
                                  return c;
                                });
  return kind;
}

}  // namespace

Result<std::unique_ptr<JournalOverlay>> JournalOverlay::Create(std::shared_ptr<const Journal> journal,
                                                               std::string device, io_manager inner,
                                                               bool replay, bool fallback) {
  if (!journal || journal->blocksize() == 0)
    return Error{Code::kInvalidArgument, "journal overlay: no usable journal"};
  if (!inner || inner->magic != EXT2_ET_MAGIC_IO_MANAGER || !inner->open)
    return Error{Code::kInvalidArgument, "journal overlay: invalid inner io_manager"};
  if (device.empty()) return Error{Code::kInvalidArgument, "journal overlay: empty device name"};
  std::unique_ptr<JournalOverlay> ov(new JournalOverlay(std::move(journal), std::move(device), inner, replay, fallback));
  ov->name_ = Kind().Register(ov.get(), ov->device_, inner);
  return ov;
}

JournalOverlay::~JournalOverlay() { OverlayKind::Unregister(name_); }

io_manager JournalOverlay::manager() const { return Kind().manager(); }

std::vector<JournalCopy> JournalOverlay::fallback_blocks() const {
  std::vector<JournalCopy> out;
  if (!any_fallback_.load(std::memory_order_acquire)) return out;
  std::lock_guard<std::mutex> lock(fb_mu_);
  for (const auto& [blk, c] : fb_blocks_) out.push_back(c);
  return out;
}

std::optional<JournalCopy> JournalOverlay::FallbackFor(uint64_t fs_block) const {
  if (!any_fallback_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard<std::mutex> lock(fb_mu_);
  auto it = fb_blocks_.find(fs_block);
  if (it == fb_blocks_.end()) return std::nullopt;
  return it->second;
}

void JournalOverlay::NoteFallback(const JournalCopy& c) const {
  std::lock_guard<std::mutex> lock(fb_mu_);
  fb_blocks_[c.fs_block] = c;
  any_fallback_.store(true, std::memory_order_release);
}

const JournalOverlay* OverlayOf(ext2_filsys fs) {
  OverlayChan* c = fs ? Kind().ChanOf(fs->io) : nullptr;
  return c ? static_cast<const JournalOverlay*>(c->overlay) : nullptr;
}

JournalFallbackScope::JournalFallbackScope() : prev_(t_fallback_scope) { t_fallback_scope = this; }
JournalFallbackScope::~JournalFallbackScope() { t_fallback_scope = prev_; }
void JournalFallbackScope::Note(const Piece& p) {
  for (JournalFallbackScope* s = t_fallback_scope; s; s = s->prev_) s->pieces_.push_back(p);
}

Result<ext2_filsys> OpenWithJournalOverlay(const JournalOverlay& overlay, int flags,
                                           blk64_t superblock, unsigned blocksize,
                                           const char* io_options) {
  if (flags & EXT2_FLAG_RW)
    return Error{Code::kInvalidArgument, "journal overlay: read-write open refused"};
  ext2_filsys fs = nullptr;
  errcode_t err = ext2fs_open2(overlay.name().c_str(), io_options, flags | EXT2_FLAG_64BITS,
                               static_cast<int>(superblock), blocksize, overlay.manager(), &fs);
  if (err) return Ext2Error(overlay.device() + " (through the journal overlay)", err);
  return fs;
}

JournalSetup PrepareJournal(ext2_filsys plain, JournalMode mode, const std::string& device,
                            io_manager inner) {
  JournalSetup out;
  auto j = LoadJournal(plain);
  if (!j.ok()) {
    out.damage.push_back(j.error().message + "; salvaging without the journal");
    return out;
  }
  out.journal = *j;
  const JournalInfo& info = out.journal->info();
  // No journal (ext2, ext4 without has_journal): nothing was scanned, nothing ended on damage.
  if (info.present && info.end != JournalEndName(JournalEnd::kClean) &&
      info.end != JournalEndName(JournalEnd::kIncomplete))
    out.damage.push_back("journal log ends on damage (" + info.end + "): " + info.end_detail +
                         "; later transactions are not replayed");
  for (const auto& p : info.problems) out.damage.push_back("journal: " + p);
  // --journal=ignore: the journal is only described, never read from.
  if (mode == JournalMode::kIgnore || !info.present || info.blocksize == 0) return out;
  auto ov = JournalOverlay::Create(out.journal, device, inner, out.journal->ShouldReplay(mode), true);
  if (!ov.ok()) {
    out.damage.push_back(ov.error().message + "; salvaging without the journal");
    return out;
  }
  out.overlay = std::move(*ov);
  return out;
}

}  // namespace mr::salvage
