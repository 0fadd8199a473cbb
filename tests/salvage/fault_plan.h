// FaultPlan: a scripted faulty device for Source::Options::read_fn /
// SalvageOptions::source_read (fault injection in tests, issue 7).
//
// Faults are byte ranges of the source (normally whole 512-byte sectors):
//  - permanent: every read that touches the range fails with EIO;
//  - transient: the first `fail_times` reads touching it fail with EIO, then
//    reads succeed (a marginal sector that comes back on retry).
// A read touching any failing range fails whole (-1, EIO), as a disk does for
// a request spanning a bad sector. Independently, every read can be cut short
// (`short_max` bytes at most) and every `eintr_every`-th call can return EINTR
// before doing anything. `fail_all_from` makes every read at or past that
// offset fail (0 = the whole device).
// Counts every call and, per fault, the calls that touched it. Thread-safe:
// salvage workers read concurrently. The plan must outlive the Fn().
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "salvage/source.h"

namespace mr::salvage::test {

class FaultPlan {
 public:
  struct Fault {
    std::uint64_t offset = 0;
    std::uint64_t length = 512;
    int fail_times = -1;  // -1: permanent
    int touched = 0;      // calls that overlapped the range
    int failed = 0;       // of which failed
  };

  std::size_t AddPermanent(std::uint64_t offset, std::uint64_t length = 512) {
    faults_.push_back({offset, length, -1});
    return faults_.size() - 1;
  }
  std::size_t AddTransient(std::uint64_t offset, int fail_times, std::uint64_t length = 512) {
    faults_.push_back({offset, length, fail_times});
    return faults_.size() - 1;
  }
  void set_short_max(std::size_t n) { short_max_ = n; }
  void set_eintr_every(int n) { eintr_every_ = n; }
  void set_fail_all_from(std::uint64_t off) { fail_all_from_ = off; }

  PreadFn Fn() {
    return [this](int fd, void* buf, std::size_t len, off_t off) { return Read(fd, buf, len, off); };
  }

  std::uint64_t calls() const { std::lock_guard<std::mutex> lk(mu_); return calls_; }
  std::uint64_t eio() const { std::lock_guard<std::mutex> lk(mu_); return eio_; }
  std::uint64_t eintr() const { std::lock_guard<std::mutex> lk(mu_); return eintr_; }
  std::uint64_t shortened() const { std::lock_guard<std::mutex> lk(mu_); return short_; }
  Fault fault(std::size_t i) const { std::lock_guard<std::mutex> lk(mu_); return faults_.at(i); }

 private:
  ssize_t Read(int fd, void* buf, std::size_t len, off_t off) {
    const auto start = static_cast<std::uint64_t>(off);
    {
      std::lock_guard<std::mutex> lk(mu_);
      ++calls_;
      if (eintr_every_ > 0 && calls_ % static_cast<std::uint64_t>(eintr_every_) == 0) {
        ++eintr_;
        errno = EINTR;
        return -1;
      }
      bool fail = fail_all_from_ && start + len > *fail_all_from_;
      for (auto& f : faults_) {
        if (start >= f.offset + f.length || start + len <= f.offset) continue;
        ++f.touched;
        if (f.fail_times < 0 || f.failed < f.fail_times) {
          ++f.failed;
          fail = true;
        }
      }
      if (fail) {
        ++eio_;
        errno = EIO;
        return -1;
      }
      if (short_max_ && len > short_max_) {
        ++short_;
        len = short_max_;
      }
    }
    return ::pread(fd, buf, len, off);
  }

  mutable std::mutex mu_;
  std::vector<Fault> faults_;
  std::size_t short_max_ = 0;
  int eintr_every_ = 0;
  std::optional<std::uint64_t> fail_all_from_;
  std::uint64_t calls_ = 0, eio_ = 0, eintr_ = 0, short_ = 0;
};

}  // namespace mr::salvage::test
