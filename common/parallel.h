// parallel: the project's only doorway to TBB's fork/join — ParallelFor,
// ParallelForChunks, TaskGroup, InArena, ParallelSortKeys — so that ThreadSanitizer sees the
// happens-before edges TBB makes, and nothing more.
//
// Why: Debian's libtbb is not built with -fsanitize=thread. Handing a task to
// a worker and the join at the end of parallel_for / task_group::wait /
// task_arena::execute happen inside it, invisible to TSan, which then reports
// every write a task made that the caller reads after the join (and every
// caller write a task reads) as a race, and TBB's own header code (task
// objects, ranges, partitioners: memory libtbb recycles between threads) as
// racing with itself.
// How: TBB is used only in parallel.cc, which the TSan build compiles without
// instrumentation, like libtbb itself (MR_TSAN_EDGES); user code reaches it
// through a function pointer. parallel.cc adds exactly two edges per call
// with __tsan_release/__tsan_acquire:
//  - fork: the caller releases the call's fork token once the work is handed
//    over; each task acquires it before it runs user code;
//  - join: each task releases the call's join token when its user code
//    returns (or throws); the caller acquires it after TBB's join.
// Tasks get no edge between each other (no task acquires what another
// releases), so a real race between two bodies, or between a body and code
// the caller runs meanwhile, is still reported. Outside TSan builds the
// annotations compile to nothing and these are the plain TBB calls.
//
// Contract: the functors are called concurrently from TBB worker threads and
// must outlive the call; ParallelFor*, InArena block until all work is done
// and rethrow the first exception a functor threw. TaskGroup: Run() from one
// thread at a time; the destructor waits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace mr {
namespace parallel_detail {

using ChunkFn = void (*)(void* ctx, std::size_t begin, std::size_t end);
using CallFn = void (*)(void* ctx);
// tbb::parallel_for over blocked_range(begin, end, grain), calling fn(ctx, b, e).
void RunChunks(std::size_t begin, std::size_t end, std::size_t grain, ChunkFn fn, void* ctx);
// tbb::task_arena(threads).execute(fn(ctx)).
void RunInArena(int threads, CallFn fn, void* ctx);

template <class F>
void* Erase(F& f) {
  return const_cast<void*>(static_cast<const void*>(std::addressof(f)));
}

}  // namespace parallel_detail

// f(b, e) for consecutive chunks [b, e) covering [begin, end), in parallel;
// chunks are at least `grain` long unless the range is shorter.
template <class F>
void ParallelForChunks(std::size_t begin, std::size_t end, std::size_t grain, F&& f) {
  using G = std::remove_reference_t<F>;
  parallel_detail::RunChunks(
      begin, end, grain, [](void* c, std::size_t b, std::size_t e) { (*static_cast<G*>(c))(b, e); },
      parallel_detail::Erase(f));
}

// f(i) for every i in [begin, end), in parallel.
template <class F>
void ParallelFor(std::size_t begin, std::size_t end, F&& f) {
  ParallelForChunks(begin, end, 1, [&f](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i != e; ++i) f(i);
  });
}

// f() inside a TBB arena of `threads` threads: the parallel work f starts
// uses at most that many.
template <class F>
void InArena(int threads, F&& f) {
  using G = std::remove_reference_t<F>;
  parallel_detail::RunInArena(threads, [](void* c) { (*static_cast<G*>(c))(); }, parallel_detail::Erase(f));
}

// Sorts (key, index) pairs ascending by key, then index (tbb::parallel_sort).
// The keys' bytes are read from worker threads: they must not change meanwhile.
void ParallelSortKeys(std::vector<std::pair<std::string_view, std::uint32_t>>& keys);

// tbb::task_group: Run() starts f() on a worker, Wait() joins them all.
class TaskGroup {
 public:
  TaskGroup();
  ~TaskGroup();  // waits
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  template <class F>
  void Run(F&& f) {
    RunFunction(std::function<void()>(std::forward<F>(f)));
  }
  void Wait();

 private:
  void RunFunction(std::function<void()> f);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mr
