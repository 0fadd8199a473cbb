// TBB's fork/join plus the TSan edges (see parallel.h). In a TSan build this
// file is compiled without instrumentation and with MR_TSAN_EDGES defined
// (common/CMakeLists.txt): what runs here is TBB's plumbing, as invisible to
// TSan as libtbb; user code runs through the function pointers.
#include "common/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_sort.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <deque>

#ifdef MR_TSAN_EDGES
#include <sanitizer/tsan_interface.h>
#endif

namespace mr {
namespace {

// The sync addresses of one fork/join.
struct Token {
  char fork = 0;
  char join = 0;
  void Fork() {
#ifdef MR_TSAN_EDGES
    __tsan_release(&fork);
#endif
  }
  void Joined() {
#ifdef MR_TSAN_EDGES
    __tsan_acquire(&join);
#endif
  }
};

// One task's user code: acquire the fork edge, release the join edge on the
// way out (also when it throws; TBB carries the exception to the caller).
class InTask {
 public:
  explicit InTask(Token& t) : t_(t) {
#ifdef MR_TSAN_EDGES
    __tsan_acquire(&t_.fork);
#endif
  }
  ~InTask() {
#ifdef MR_TSAN_EDGES
    __tsan_release(&t_.join);
#endif
  }
  InTask(const InTask&) = delete;
  InTask& operator=(const InTask&) = delete;

 private:
  Token& t_;
};

// The caller's side: fork on entry, join on exit (also when TBB rethrows).
class Call {
 public:
  explicit Call(Token& t) : t_(t) { t_.Fork(); }
  ~Call() { t_.Joined(); }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

 private:
  Token& t_;
};

}  // namespace

namespace parallel_detail {

void RunChunks(std::size_t begin, std::size_t end, std::size_t grain, ChunkFn fn, void* ctx) {
  Token t;
  Call call(t);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(begin, end, grain == 0 ? 1 : grain),
                    [&t, fn, ctx](const tbb::blocked_range<std::size_t>& r) {
                      InTask in(t);
                      fn(ctx, r.begin(), r.end());
                    });
}

void RunInArena(int threads, CallFn fn, void* ctx) {
  Token t;
  tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
  Call call(t);
  arena.execute([&t, fn, ctx] {
    InTask in(t);
    fn(ctx);
  });
}

}  // namespace parallel_detail

void ParallelSortKeys(std::vector<std::pair<std::string_view, std::uint32_t>>& keys) {
  using Key = std::pair<std::string_view, std::uint32_t>;
  Token t;
  Call call(t);
  // parallel_sort runs no user code but the comparison, which reads the keys'
  // bytes (memcmp, seen by TSan) on workers: each comparison is a task's work.
  tbb::parallel_sort(keys.begin(), keys.end(), [&t](const Key& a, const Key& b) {
#ifdef MR_TSAN_EDGES
    InTask in(t);
#else
    (void)t;
#endif
    return a < b;
  });
}

struct TaskGroup::Impl {
  Token t;
  std::deque<std::function<void()>> fns;  // stable addresses while tasks run
  tbb::task_group tg;
};

TaskGroup::TaskGroup() : impl_(std::make_unique<Impl>()) {}

TaskGroup::~TaskGroup() {
  try {
    Wait();
  } catch (...) {
    // A task's exception not collected by an explicit Wait(): dropped, as
    // a destructor must not throw.
  }
}

void TaskGroup::RunFunction(std::function<void()> f) {
  std::function<void()>* p = &impl_->fns.emplace_back(std::move(f));
  Token* t = &impl_->t;
  t->Fork();
  impl_->tg.run([p, t] {
    InTask in(*t);
    (*p)();
  });
}

void TaskGroup::Wait() {
  Impl& i = *impl_;
  struct Joined {
    Token& t;
    ~Joined() { t.Joined(); }
  } joined{i.t};
  i.tg.wait();
}

}  // namespace mr
