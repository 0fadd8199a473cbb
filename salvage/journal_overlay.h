// An in-memory overlay io_manager: ext2fs_open2 through it sees the
// filesystem as it would be after journal replay, with unreadable blocks
// patched from older journal copies, and nothing is ever written.
//
// Each channel opened through the overlay wraps its own channel of the inner
// io_manager (unix_io_manager, or salvage's bad-area manager), opened without
// IO_FLAG_RW. Two jobs, chosen at Create:
//  - replay: reads of blocks in the Journal's replay map are served from
//    their journal copies (escape undone); everything else is forwarded;
//  - fallback: bytes that came back unreadable (zero-filled by the Source:
//    badmap or I/O error, whether read live or from a replay copy) are
//    replaced, filesystem block by filesystem block, from the newest other
//    committed copy of that block in the journal that reads back whole
//    (Journal::OlderCopies: the live log and old checkpointed transactions).
//    Only the unreadable bytes are replaced: readable live bytes win, the
//    journal copy may be older. Each block served so is recorded in the
//    overlay (fallback_blocks()) and in the calling thread's
//    JournalFallbackScope; it is no longer noted in its ReadDamageScope.
//    When no copy reads back whole, the damage stays and is noted as usual,
//    at the requested offsets (also for an unreadable replay copy).
// The inner channel's read errors are passed to the overlay channel's
// read_error hook when one is set. The rest of the read-only io_manager (no
// writes, the registry by name, forwarding) is overlay_channel.h's.
// Thread safety: the registry and the
// fallback record are locked; the Journal is immutable (OlderCopies indexes
// the journal once, under its own lock); each ext2_filsys has its own
// channels, so one overlay may back one handle per worker thread.
// REQUIRES: every ext2_filsys opened through an overlay is closed before the
// overlay is destroyed.
#pragma once

#include <ext2fs/ext2fs.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/badmap.h"
#include "salvage/journal.h"

namespace mr::salvage {

class JournalOverlay {
 public:
  // `device`: the name the inner manager opens (a path, without "?options").
  // `replay`: serve the replay map; `fallback`: patch unreadable blocks.
  static Result<std::unique_ptr<JournalOverlay>> Create(std::shared_ptr<const Journal> journal,
                                                        std::string device, io_manager inner,
                                                        bool replay = true, bool fallback = false);
  ~JournalOverlay();
  JournalOverlay(const JournalOverlay&) = delete;
  JournalOverlay& operator=(const JournalOverlay&) = delete;

  io_manager manager() const;
  // The name to pass to ext2fs_open2 together with manager().
  const std::string& name() const { return name_; }
  const Journal& journal() const { return *journal_; }
  const std::string& device() const { return device_; }
  io_manager inner() const { return inner_; }
  // Block reads served from the journal so far (all channels).
  uint64_t blocks_served() const { return served_.load(std::memory_order_relaxed); }
  void CountServed(uint64_t n) const { served_.fetch_add(n, std::memory_order_relaxed); }
  bool replaying() const { return replay_; }
  bool falls_back() const { return fallback_; }

  // Filesystem blocks (some of) whose bytes were served from an older journal
  // copy because the live ones were unreadable, with the copy used (the last
  // one, should a later read have picked another), sorted by block.
  std::vector<JournalCopy> fallback_blocks() const;
  // The copy the fallback served for `fs_block`, if any.
  std::optional<JournalCopy> FallbackFor(uint64_t fs_block) const;
  void NoteFallback(const JournalCopy& c) const;

 private:
  JournalOverlay(std::shared_ptr<const Journal> j, std::string device, io_manager inner, bool replay, bool fallback)
      : journal_(std::move(j)), device_(std::move(device)), inner_(inner), replay_(replay), fallback_(fallback) {}
  std::shared_ptr<const Journal> journal_;
  std::string device_;
  io_manager inner_;
  std::string name_;
  bool replay_, fallback_;
  mutable std::atomic<uint64_t> served_{0};
  mutable std::mutex fb_mu_;
  mutable std::map<uint64_t, JournalCopy> fb_blocks_;
  mutable std::atomic<bool> any_fallback_{false};
};

// The overlay `fs` was opened through, or nullptr.
const JournalOverlay* OverlayOf(ext2_filsys fs);

// While alive, reads done by this thread through an overlay append the byte
// ranges (absolute offsets, like ReadDamageScope) that the fallback served
// from older journal copies, each with the copy used. Nests.
class JournalFallbackScope {
 public:
  struct Piece {
    ByteRange range;
    JournalCopy copy;
  };
  JournalFallbackScope();
  ~JournalFallbackScope();
  JournalFallbackScope(const JournalFallbackScope&) = delete;
  JournalFallbackScope& operator=(const JournalFallbackScope&) = delete;
  const std::vector<Piece>& pieces() const { return pieces_; }
  static void Note(const Piece& p);

 private:
  std::vector<Piece> pieces_;
  JournalFallbackScope* prev_;
};

// Opens the filesystem through `overlay`, read-only (EXT2_FLAG_64BITS is
// added; EXT2_FLAG_RW is refused). `superblock`/`blocksize` as for ext2fs_open2
// (0, 0 for the primary). Close the result with ext2fs_close_free.
Result<ext2_filsys> OpenWithJournalOverlay(const JournalOverlay& overlay, int flags,
                                           blk64_t superblock = 0, unsigned blocksize = 0,
                                           const char* io_options = nullptr);

// Everything a volume open needs from the journal, in one call.
struct JournalSetup {
  std::shared_ptr<const Journal> journal;   // null when it could not be read
  // Set when the journal is usable and `mode` is not kIgnore: it replays when
  // Journal::ShouldReplay(mode), and falls back to older copies in any case.
  std::unique_ptr<JournalOverlay> overlay;
  // One line each: the journal is unusable, its log ended on damage (bad
  // checksum, malformed or unreadable block), or a block copy was skipped.
  // An incomplete last transaction (the normal state after a crash) is not damage.
  std::vector<std::string> damage;
};

// Loads the journal of `plain` (a read-only handle on the device) and, unless
// mode is kIgnore (which means: do not use the journal at all, neither replay
// nor fallback), registers an overlay over `device` opened with `inner`. Never fails: an unreadable journal is reported in `damage` and
// salvage carries on without it; so are damage lines from a usable journal. Open every later handle with
// overlay->manager() / overlay->name() (e.g. OpenPlan::manager/device_name)
// and keep the JournalSetup alive until they are all closed.
JournalSetup PrepareJournal(ext2_filsys plain, JournalMode mode, const std::string& device,
                            io_manager inner);

}  // namespace mr::salvage
