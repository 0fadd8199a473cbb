// An in-memory overlay io_manager: ext2fs_open2 through it sees the
// filesystem as it would be after journal replay, and nothing is ever written.
//
// Each channel opened through the overlay wraps its own channel of the inner
// io_manager (unix_io_manager, or salvage's bad-area manager), opened without
// IO_FLAG_RW. Reads of blocks in the Journal's replay map are served from
// their journal copies (escape undone); everything else is forwarded. Opening
// for writing fails with EROFS; every write, discard or zeroout fails with
// EXT2_ET_RO_FILSYS. The inner channel's read errors are passed to the
// overlay channel's read_error hook when one is set.
//
// libext2fs's open callback only receives a name, so a JournalOverlay
// registers itself in a process-wide registry under a unique name and
// unregisters in its destructor. Thread safety: the registry is locked; the
// Journal is immutable; each ext2_filsys has its own channels, so one overlay
// may back one handle per worker thread.
// REQUIRES: every ext2_filsys opened through an overlay is closed before the
// overlay is destroyed.
#pragma once

#include <ext2fs/ext2fs.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "salvage/journal.h"

namespace mr::salvage {

class JournalOverlay {
 public:
  // `device`: the name the inner manager opens (a path, without "?options").
  static Result<std::unique_ptr<JournalOverlay>> Create(std::shared_ptr<const Journal> journal,
                                                        std::string device, io_manager inner);
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

 private:
  JournalOverlay(std::shared_ptr<const Journal> j, std::string device, io_manager inner, std::string name)
      : journal_(std::move(j)), device_(std::move(device)), inner_(inner), name_(std::move(name)) {}
  std::shared_ptr<const Journal> journal_;
  std::string device_;
  io_manager inner_;
  std::string name_;
  mutable std::atomic<uint64_t> served_{0};
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
  std::unique_ptr<JournalOverlay> overlay;  // set when `mode` asks for replay
  // One line each: the journal is unusable, its log ended on damage (bad
  // checksum, malformed or unreadable block), or a block copy was skipped.
  // An incomplete last transaction (the normal state after a crash) is not damage.
  std::vector<std::string> damage;
};

// Loads the journal of `plain` (a read-only handle on the device) and, when
// Journal::ShouldReplay(mode), registers an overlay over `device` opened with
// `inner`. Never fails: an unreadable journal is reported in `damage` and
// salvage carries on without it; so are damage lines from a usable journal. Open every later handle with
// overlay->manager() / overlay->name() (e.g. OpenPlan::manager/device_name)
// and keep the JournalSetup alive until they are all closed.
JournalSetup PrepareJournal(ext2_filsys plain, JournalMode mode, const std::string& device,
                            io_manager inner);

}  // namespace mr::salvage
