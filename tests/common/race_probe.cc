// race_probe MODE: small programs on common/parallel.h for the TSan build's
// check that the fork/join edges parallel.cc adds hide no real race
// (tests/common/parallel_test.cc runs each mode and expects TSan's verdict).
// Clean modes share data only through the fork/join; racy modes have a real
// race the edges must not hide (see Turns).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/parallel.h"

namespace {

// Two parties, each on its own thread, make one access each, one after the
// other: they meet (both running at once), then take turns by ticket. Only
// relaxed atomics: TSan gets no happens-before edge from this, and the
// accesses never coincide (two accesses at the very same instant can both
// miss each other in TSan's shadow memory, which made a racy probe flaky).
struct Turns {
  std::atomic<int> arrived{0};
  std::atomic<int> turn{0};
};
template <class F>
void InTurn(Turns& t, F access) {
  const int me = t.arrived.fetch_add(1, std::memory_order_relaxed);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto wait_for = [&](auto done) {
    while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  };
  wait_for([&] { return t.arrived.load(std::memory_order_relaxed) >= 2; });
  wait_for([&] { return t.turn.load(std::memory_order_relaxed) == me; });
  access();
  t.turn.store(me + 1, std::memory_order_relaxed);
}

int Clean(const char* mode) {
  std::vector<std::vector<int>> outs(4000);
  long sum = 0;
  if (!std::strcmp(mode, "chunks")) {
    mr::ParallelForChunks(0, outs.size(), 16, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i != e; ++i) outs[i].push_back(static_cast<int>(i));
    });
  } else if (!std::strcmp(mode, "group")) {
    mr::InArena(2, [&] {
      mr::TaskGroup tg;
      for (int w = 0; w < 4; ++w)
        tg.Run([&outs, w] {
          mr::ParallelFor(static_cast<std::size_t>(w) * 1000, static_cast<std::size_t>(w + 1) * 1000,
                          [&](std::size_t i) { outs[i].push_back(1); });
        });
      tg.Wait();
    });
  } else {
    return 2;
  }
  for (const auto& o : outs)
    for (int x : o) sum += x;
  std::printf("%ld\n", sum);
  return 0;
}

int shared_value = 0;

int Racy(const char* mode) {
  Turns turns;
  if (!std::strcmp(mode, "race-bodies")) {  // two bodies write one int
    mr::InArena(2, [&] {
      mr::ParallelFor(0, 2, [&](std::size_t i) {
        InTurn(turns, [&] { shared_value += static_cast<int>(i) + 1; });
      });
    });
  } else if (!std::strcmp(mode, "race-tasks")) {  // two tasks of a group
    mr::InArena(2, [&] {
      mr::TaskGroup tg;
      for (int w = 0; w < 2; ++w) tg.Run([&] { InTurn(turns, [&] { shared_value += 1; }); });
      tg.Wait();
    });
  } else if (!std::strcmp(mode, "race-caller")) {  // the caller writes while a task reads
    mr::TaskGroup tg;
    tg.Run([&] { InTurn(turns, [&] { std::printf("%d\n", shared_value); }); });
    InTurn(turns, [&] { shared_value = 7; });
    tg.Wait();
  } else {
    return 2;
  }
  std::printf("%d\n", turns.turn.load());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (!std::strncmp(argv[1], "race-", 5)) return Racy(argv[1]);
  return Clean(argv[1]);
}
