// race_probe MODE: small programs on common/parallel.h for the TSan build's
// check that the fork/join edges parallel.cc adds hide no real race
// (tests/common/parallel_test.cc runs each mode and expects TSan's verdict).
// Clean modes share data only through the fork/join; racy modes have a real
// race the edges must not hide. Tasks that must overlap meet at a barrier of
// relaxed atomics, which gives TSan no happens-before edge.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "common/parallel.h"

namespace {

// Waits (bounded) until n parties arrived; relaxed: no synchronisation.
void Meet(std::atomic<int>& arrived, int n) {
  arrived.fetch_add(1, std::memory_order_relaxed);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (arrived.load(std::memory_order_relaxed) < n && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
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
  std::atomic<int> arrived{0};
  if (!std::strcmp(mode, "race-bodies")) {  // two bodies write one int
    mr::InArena(2, [&] {
      mr::ParallelFor(0, 2, [&](std::size_t i) {
        Meet(arrived, 2);
        shared_value += static_cast<int>(i) + 1;
      });
    });
  } else if (!std::strcmp(mode, "race-tasks")) {  // two tasks of a group
    mr::InArena(2, [&] {
      mr::TaskGroup tg;
      for (int w = 0; w < 2; ++w)
        tg.Run([&] {
          Meet(arrived, 2);
          shared_value += 1;
        });
      tg.Wait();
    });
  } else if (!std::strcmp(mode, "race-caller")) {  // the caller writes while a task reads
    mr::TaskGroup tg;
    tg.Run([&] {
      Meet(arrived, 2);
      std::printf("%d\n", shared_value);
    });
    Meet(arrived, 2);
    shared_value = 7;
    tg.Wait();
  } else {
    return 2;
  }
  std::printf("%d\n", arrived.load());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (!std::strncmp(argv[1], "race-", 5)) return Racy(argv[1]);
  return Clean(argv[1]);
}
