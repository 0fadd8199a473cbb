// spill_array: growable arrays of plain values that live on the heap while
// they are small and in an unlinked temporary file once they are not, so the
// salvage catalog (salvage/catalog.h) needs a bounded amount of RAM however
// many files the filesystem holds.
//
// Addresses never move: an array reserves address space for its largest
// size when it first grows (PROT_NONE, no memory), and pointers and
// string_views into it stay valid for its lifetime, across growth and across
// the move to a file. Growth commits anonymous memory until the arrays of one
// SpillSpace together hold `threshold` bytes; an array that grows past that
// moves to a file DIR/.salvage-catalog-XXXXXX (mkstemp, unlinked at once:
// nothing is left behind, even by a killed run), mapped MAP_SHARED|MAP_FIXED
// over the same addresses. File space is fallocate'd before it is mapped, so a
// full disk is an error naming the file, never a SIGBUS.
//
// Resident file pages count in RSS. Tick(n) says "about n more pages were
// touched": every `tick_every` of them (1,024) the space reads the process's
// resident shared pages (/proc/self/statm) and, when they exceed the level
// after the last trim (program text and libraries) by more than `budget`
// bytes, drops every spilled array's pages from this
// process (madvise MADV_DONTNEED: the data stays in the file and its page
// cache; the next access faults it back in). Callers tick once per node in
// their loops; a space that never spilled returns from Tick at once.
//
// Errors: the first failure (create, fallocate, mmap) stays in status(); the
// array then goes on growing in anonymous memory so the caller can finish its
// step and check status() at the next checkpoint.
// Thread-safety: growth and writes from one thread at a time; once no array of
// the space grows any more, reads and Tick/Trim from any number of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace mr::salvage {

class SpillSpace {
 public:
  static constexpr std::size_t kDefaultThreshold = 16u << 20;  // heap bytes before arrays move to files
  static constexpr std::size_t kDefaultBudget = 16u << 20;     // resident file bytes before a trim
  static constexpr std::uint64_t kDefaultTickEvery = 1024;

  struct Options {
    std::string dir;  // where spill files go; "" = never spill (everything on the heap)
    bool create_dir = false;  // mkdir -p it at the first spill
    std::size_t threshold = kDefaultThreshold;
    std::size_t budget = kDefaultBudget;
    std::uint64_t tick_every = kDefaultTickEvery;
  };

  explicit SpillSpace(Options o);
  ~SpillSpace();
  SpillSpace(const SpillSpace&) = delete;
  SpillSpace& operator=(const SpillSpace&) = delete;

  // A space that never spills (arrays constructed without one use it).
  static const std::shared_ptr<SpillSpace>& Heap();

  void Tick(std::uint64_t pages = 1) {
    if (!spilled_any_.load(std::memory_order_relaxed)) return;
    const std::uint64_t before = ticks_.fetch_add(pages, std::memory_order_relaxed);
    if ((before + pages) / opts_.tick_every != before / opts_.tick_every) CheckResident();
  }
  // Drops every spilled array's resident pages now.
  void Trim();

  Status status() const;
  std::size_t files() const;          // arrays moved to files so far
  std::uint64_t trims() const { return trims_.load(); }
  const Options& options() const { return opts_; }

  class Bytes;

 private:
  void CheckResident();
  bool WouldSpill(std::size_t bytes) const;  // heap growth by `bytes` passes the threshold
  void Fail(Status s);
  void Register(Bytes* b);
  void Unregister(Bytes* b);

  const Options opts_;
  std::atomic<bool> spilled_any_{false};
  std::atomic<std::uint64_t> ticks_{0}, trims_{0};
  std::atomic<std::size_t> heap_bytes_{0};
  std::atomic<long> baseline_pages_{0};  // resident shared pages not ours (program text...)
  mutable std::mutex mu_;
  std::vector<Bytes*> spilled_;
  std::size_t files_ = 0;
  Status failed_;
  std::mutex trim_mu_;
};

// A never-moving byte region of one SpillSpace: [0, committed()) is usable.
class SpillSpace::Bytes {
 public:
  Bytes(std::shared_ptr<SpillSpace> space, std::size_t max_bytes);
  ~Bytes();
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;

  char* data() const { return base_; }
  std::size_t committed() const { return committed_; }
  bool spilled() const { return fd_ >= 0; }
  // Makes [0, n) usable; `used` bytes at the start hold data (copied when the
  // region moves to a file). Throws std::length_error beyond max_bytes (a bug).
  void Commit(std::size_t n, std::size_t used);
  void DropPages();  // spilled part only; thread-safe with readers
  SpillSpace& space() const { return *space_; }

 private:
  bool Spill(std::size_t used);
  bool GrowFile(std::size_t n);

  std::shared_ptr<SpillSpace> space_;
  std::size_t max_ = 0;
  char* base_ = nullptr;
  std::size_t reserved_ = 0;
  std::size_t committed_ = 0;
  std::size_t heap_ = 0;  // bytes of committed_ that are anonymous (counted in the space)
  std::atomic<std::size_t> file_mapped_{0};
  int fd_ = -1;
  std::string name_;
};

// A vector of trivially copyable T on a SpillSpace. Elements never move; a
// smaller resize keeps the memory.
template <class T>
class SpillArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  static constexpr std::size_t kMaxSize = std::size_t{1} << 31;

  SpillArray() = default;
  explicit SpillArray(std::shared_ptr<SpillSpace> space, std::size_t max_size = kMaxSize)
      : space_(std::move(space)), max_size_(max_size) {}
  SpillArray(SpillArray&& o) noexcept { *this = std::move(o); }
  SpillArray& operator=(SpillArray&& o) noexcept {
    if (this != &o) {
      bytes_ = std::move(o.bytes_);
      space_ = std::move(o.space_);
      max_size_ = o.max_size_;
      data_ = o.data_;
      size_ = o.size_;
      cap_ = o.cap_;
      written_ = o.written_;
      o.data_ = nullptr;
      o.size_ = o.cap_ = o.written_ = 0;
    }
    return *this;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() const { return data_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() const { return data_; }
  T* end() const { return data_ + size_; }
  T& back() { return data_[size_ - 1]; }
  const std::shared_ptr<SpillSpace>& space() const { return space_ ? space_ : SpillSpace::Heap(); }
  bool spilled() const { return bytes_ && bytes_->spilled(); }

  void push_back(const T& v) {
    if (size_ == cap_) Grow(size_ + 1);
    std::memcpy(static_cast<void*>(data_ + size_), &v, sizeof(T));
    SetSize(size_ + 1);
  }
  // New elements are `v`; the space is ticked as the pages are written.
  void resize(std::size_t n, const T& v = T{}) {
    if (n > cap_) Grow(n);
    constexpr std::size_t kPage = 4096 / sizeof(T) ? 4096 / sizeof(T) : 1;
    for (std::size_t i = size_; i < n; ++i) {
      std::memcpy(static_cast<void*>(data_ + i), &v, sizeof(T));
      if (i % kPage == 0) Tick();
    }
    SetSize(n);
  }
  void append(const T* p, std::size_t k) {
    if (size_ + k > cap_) Grow(size_ + k);
    std::memcpy(static_cast<void*>(data_ + size_), p, k * sizeof(T));
    SetSize(size_ + k);
  }
  // Grows to n elements whose bytes are all zero, writing only what a
  // smaller resize left behind (fresh memory is zero). REQUIRES: n >= size().
  void grow_zeroed(std::size_t n) {
    if (n > cap_) Grow(n);
    if (written_ > size_) std::memset(static_cast<void*>(data_ + size_), 0, (std::min(n, written_) - size_) * sizeof(T));
    SetSize(n);
  }
  void Tick(std::uint64_t pages = 1) const {
    if (bytes_) bytes_->space().Tick(pages);
  }

 private:
  void SetSize(std::size_t n) {
    size_ = n;
    if (n > written_) written_ = n;
  }
  void Grow(std::size_t n) {
    if (!bytes_) {
      if (!space_) space_ = SpillSpace::Heap();
      bytes_ = std::make_unique<SpillSpace::Bytes>(space_, max_size_ * sizeof(T));
    }
    bytes_->Commit(n * sizeof(T), size_ * sizeof(T));
    data_ = reinterpret_cast<T*>(bytes_->data());
    cap_ = bytes_->committed() / sizeof(T);
  }

  std::unique_ptr<SpillSpace::Bytes> bytes_;
  std::shared_ptr<SpillSpace> space_;
  std::size_t max_size_ = kMaxSize;
  T* data_ = nullptr;
  std::size_t size_ = 0, cap_ = 0;
  std::size_t written_ = 0;  // the largest size so far: memory beyond it is still zero
};

// A set of 32-bit numbers (inode numbers) as a bitmap in a SpillArray.
class SpillBits {
 public:
  SpillBits() = default;
  explicit SpillBits(std::shared_ptr<SpillSpace> s) : words_(std::move(s), (std::size_t{1} << 32) / 64) {}
  bool Has(std::uint32_t i) const {
    const std::size_t w = i >> 6;
    return w < words_.size() && ((words_[w] >> (i & 63)) & 1) != 0;
  }
  void Set(std::uint32_t i) {
    const std::size_t w = i >> 6;
    if (w >= words_.size()) words_.grow_zeroed(w + 1);
    words_[w] |= std::uint64_t{1} << (i & 63);
  }

 private:
  SpillArray<std::uint64_t> words_{SpillSpace::Heap(), (std::size_t{1} << 32) / 64};
};

}  // namespace mr::salvage
