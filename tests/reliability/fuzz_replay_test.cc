// Corpus replay: every fuzz target over its seed corpus (built by
// fuzz/make_corpus.py from the fixture stores), so every build runs the
// fuzz entry points without clang. A broken contract aborts (FuzzFail).
// Then a short, bounded mutation run per target (MR_MUTATE_SECONDS, default
// 3 s; random flips, inserts, deletes, truncations and splices of the seeds,
// no coverage guidance): CI runs it twice, plain and under ASan+UBSan. The
// seed is printed; MR_MUTATE_SEED replays one run. Coverage-guided libFuzzer
// runs need clang (MAILRESCUE_FUZZ, ctest -L fuzz-smoke).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "fuzz/targets.h"

namespace mr::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class Replay : public ::testing::TestWithParam<Target> {};

TEST_P(Replay, EverySeedEndsInOrderWithinTenSeconds) {
  const Target t = GetParam();
  const fs::path dir = fs::path(MR_REL_CORPUS) / t.name;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  SetBaseImage((fs::path(MR_REL_CORPUS) / "base.img").string());
  std::vector<fs::path> seeds;
  for (const auto& e : fs::directory_iterator(dir)) seeds.push_back(e.path());
  std::sort(seeds.begin(), seeds.end());
  ASSERT_GE(seeds.size(), 5u) << "seed corpus for " << t.name << " too small";
  const auto before = ImageTargetStats();
  for (const auto& s : seeds) {
    const auto data = Slurp(s);
    const auto t0 = std::chrono::steady_clock::now();
    t.fn(data.data(), data.size());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(secs, 10.0) << t.name << " seed " << s.filename() << " took " << secs << " s";
  }
  if (std::string(t.name) == "image") {
    const auto after = ImageTargetStats();
    EXPECT_EQ(after.runs - before.runs, seeds.size());
    // The unmutated base image salvages; most single flips still do.
    EXPECT_GT(after.exit0 + after.exit1 - before.exit0 - before.exit1, seeds.size() / 2);
  }
}

// One mutation of `in`: 1-8 edits picked by `rng`.
std::vector<std::uint8_t> Mutate(std::vector<std::uint8_t> in, const std::vector<std::uint8_t>& other,
                                 std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return n ? static_cast<std::size_t>(rng() % n) : 0; };
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!in.empty()) in[pick(in.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // an interesting byte or word
        if (!in.empty()) {
          static const std::uint8_t kVals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
          std::size_t at = pick(in.size());
          std::size_t n = std::min<std::size_t>(in.size() - at, 1 + rng() % 8);
          std::uint8_t v = kVals[rng() % std::size(kVals)];
          for (std::size_t k = 0; k < n; ++k) in[at + k] = v;
        }
        break;
      case 2:  // insert random bytes
        if (in.size() < (1u << 20)) {
          std::size_t at = pick(in.size() + 1), n = 1 + rng() % 16;
          std::vector<std::uint8_t> ins(n);
          for (auto& b : ins) b = static_cast<std::uint8_t>(rng());
          in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
        }
        break;
      case 3:  // delete a run
        if (!in.empty()) {
          std::size_t at = pick(in.size());
          std::size_t n = std::min<std::size_t>(in.size() - at, 1 + rng() % 64);
          in.erase(in.begin() + static_cast<std::ptrdiff_t>(at), in.begin() + static_cast<std::ptrdiff_t>(at + n));
        }
        break;
      case 4:  // truncate
        in.resize(pick(in.size() + 1));
        break;
      default:  // splice a piece of another seed
        if (!other.empty()) {
          std::size_t from = pick(other.size());
          std::size_t n = std::min<std::size_t>(other.size() - from, 1 + rng() % 256);
          std::size_t at = pick(in.size() + 1);
          in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), other.begin() + static_cast<std::ptrdiff_t>(from),
                    other.begin() + static_cast<std::ptrdiff_t>(from + n));
        }
        break;
    }
  }
  return in;
}

TEST_P(Replay, BoundedRandomMutationsEndInOrder) {
  const Target t = GetParam();
  const fs::path dir = fs::path(MR_REL_CORPUS) / t.name;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  SetBaseImage((fs::path(MR_REL_CORPUS) / "base.img").string());
  std::vector<std::vector<std::uint8_t>> seeds;
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir)) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) seeds.push_back(Slurp(p));
  ASSERT_FALSE(seeds.empty());
  double budget = 3.0;
  if (const char* v = std::getenv("MR_MUTATE_SECONDS")) budget = std::atof(v);
  std::uint64_t seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  if (const char* v = std::getenv("MR_MUTATE_SEED")) seed = std::strtoull(v, nullptr, 10);
  std::printf("mutating %s for %.1f s, MR_MUTATE_SEED=%llu\n", t.name, budget,
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  std::size_t runs = 0;
  do {
    const auto& base = seeds[rng() % seeds.size()];
    const auto& other = seeds[rng() % seeds.size()];
    const auto input = Mutate(base, other, rng);
    const auto t0 = std::chrono::steady_clock::now();
    t.fn(input.data(), input.size());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_LT(secs, 10.0) << t.name << ": one input took " << secs << " s (MR_MUTATE_SEED=" << seed << ", run "
                          << runs << ")";
    ++runs;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < budget);
  std::printf("%s: %zu mutated inputs, all ended in order\n", t.name, runs);
  EXPECT_GT(runs, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllTargets, Replay, ::testing::ValuesIn(Targets()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mr::fuzz
