// Corpus replay: every fuzz target over its seed corpus (built by
// fuzz/make_corpus.py from the fixture stores), so every build runs the
// fuzz entry points without clang. A broken contract aborts (FuzzFail).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

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

INSTANTIATE_TEST_SUITE_P(AllTargets, Replay, ::testing::ValuesIn(Targets()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mr::fuzz
