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
#include "salvage/source.h"

namespace mr::salvage {

namespace {

// name -> live overlay. Channels keep a raw pointer: overlays outlive their handles.
struct Registry {
  std::mutex mu;
  std::map<std::string, const JournalOverlay*> live;
  uint64_t next_id = 1;
};

Registry& Reg() {
  static Registry r;
  return r;
}

struct Chan {
  const JournalOverlay* overlay;
  io_channel inner;
  std::vector<uint8_t> scratch;  // one filesystem block
  JournalCopy copy;              // the copy last read into scratch by the fallback
};

thread_local JournalFallbackScope* t_fallback_scope = nullptr;

Chan* Of(io_channel ch) { return static_cast<Chan*>(ch->private_data); }

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

errcode_t Fail(io_channel ch, unsigned long long block, int count, void* data, size_t size,
               errcode_t err) {
  if (ch->read_error) return ch->read_error(ch, static_cast<unsigned long>(block), count, data, size, 0, err);
  return err;
}

// Reads [off, end) of the request into `out`: replay-map blocks (when
// replaying) from their journal copies, the rest from the inner channel.
// Unreadable bytes (zero-filled below) are appended to *damaged in request
// offsets; an unreadable replay copy damages its whole segment.
errcode_t ReadSegments(Chan* c, uint64_t off, uint64_t end, uint8_t* out, std::vector<ByteRange>* damaged) {
  const Journal& j = c->overlay->journal();
  const auto& map = j.replay_map();
  const bool replay = c->overlay->replaying();
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
  c->overlay->CountServed(served);
  return 0;
}

// Reads journal copy `cp` into c->scratch; true when it came back whole.
bool ReadCopyWhole(Chan* c, const JournalCopy& cp) {
  const Journal& j = c->overlay->journal();
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
  const Journal& j = c->overlay->journal();
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
  if (!c->overlay->replaying())
    if (const JournalCopy* r = j.Lookup(f)) out.push_back(*r);
  auto older = j.OlderCopies(read, f);
  out.insert(out.end(), older.begin(), older.end());
  return out;
}

// Replaces the `damaged` bytes of the request [off, end) from older journal
// copies where one reads back whole; returns what is still damaged.
std::vector<ByteRange> FallBack(Chan* c, uint64_t off, uint8_t* out, std::vector<ByteRange> damaged) {
  const uint64_t bs = c->overlay->journal().blocksize();
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
          c->overlay->NoteFallback(cp);
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
  const uint64_t size = count < 0 ? static_cast<uint64_t>(-static_cast<int64_t>(count))
                                  : static_cast<uint64_t>(count) * static_cast<uint64_t>(ch->block_size);
  if (size == 0) return 0;
  const uint64_t cbs = static_cast<uint64_t>(ch->block_size);
  // A byte range past what a file offset can express is a bad request (unix_io
  // would wrap it around and read block 0 instead).
  constexpr uint64_t kMaxOffset = static_cast<uint64_t>(INT64_MAX);
  if (cbs == 0 || block > kMaxOffset / cbs || block * cbs > kMaxOffset - size) return EXT2_ET_INVALID_ARGUMENT;
  const uint64_t off = block * cbs, end = off + size;
  uint8_t* out = static_cast<uint8_t*>(data);
  std::vector<ByteRange> damaged;
  if (errcode_t err = ReadSegments(c, off, end, out, &damaged)) return Fail(ch, block, count, data, size, err);
  if (!damaged.empty() && c->overlay->falls_back()) damaged = FallBack(c, off, out, std::move(damaged));
  ReadDamageScope::Note(damaged);
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
errcode_t Flush(io_channel) { return 0; }  // nothing is ever dirty

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

errcode_t GetStats(io_channel ch, io_stats* stats) {
  io_channel inner = Of(ch)->inner;
  if (!inner->manager->get_stats) return EXT2_ET_OP_NOT_SUPPORTED;
  return inner->manager->get_stats(inner, stats);
}

errcode_t Readahead(io_channel ch, unsigned long long block, unsigned long long count) {
  io_channel inner = Of(ch)->inner;
  if (!inner->manager->cache_readahead) return EXT2_ET_OP_NOT_SUPPORTED;
  return inner->manager->cache_readahead(inner, block, count);
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
  m.name = "mailrescue journal overlay (read-only)";
  m.open = Open;
  m.close = Close;
  m.set_blksize = SetBlksize;
  m.read_blk = ReadBlk;
  m.write_blk = WriteBlk;
  m.flush = Flush;
  m.write_byte = WriteByte;
  m.set_option = SetOption;
  m.get_stats = GetStats;
  m.read_blk64 = ReadBlk64;
  m.write_blk64 = WriteBlk64;
  m.discard = Discard;
  m.cache_readahead = Readahead;
  m.zeroout = Zeroout;
  return m;
}

struct_io_manager g_manager = MakeManager();

errcode_t Open(const char* name, int flags, io_channel* out) {
  if (!name || !out) return EXT2_ET_INVALID_ARGUMENT;
  if (flags & IO_FLAG_RW) return EROFS;
  const JournalOverlay* ov = nullptr;
  {
    std::lock_guard<std::mutex> lock(Reg().mu);
    auto it = Reg().live.find(name);
    if (it == Reg().live.end()) return EXT2_ET_BAD_DEVICE_NAME;
    ov = it->second;
  }
  io_channel inner = nullptr;
  errcode_t err = ov->inner()->open(ov->device().c_str(), flags & ~IO_FLAG_RW, &inner);
  if (err) return err;
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
  ch->private_data = new Chan{ov, inner, std::vector<uint8_t>(ov->journal().blocksize()), {}};
  *out = ch;
  return 0;
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
  std::lock_guard<std::mutex> lock(Reg().mu);
  std::string name = "mailrescue-journal-overlay-" + std::to_string(Reg().next_id++);
  std::unique_ptr<JournalOverlay> ov(
      new JournalOverlay(std::move(journal), std::move(device), inner, name, replay, fallback));
  Reg().live[name] = ov.get();
  return ov;
}

JournalOverlay::~JournalOverlay() {
  std::lock_guard<std::mutex> lock(Reg().mu);
  Reg().live.erase(name_);
}

io_manager JournalOverlay::manager() const { return &g_manager; }

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
  if (!fs || !fs->io || fs->io->manager != &g_manager) return nullptr;
  return Of(fs->io)->overlay;
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
