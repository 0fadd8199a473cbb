// The whole-image fuzz target (targets.h): flip metadata bytes of a small ext4
// image, salvage it in process, and require an orderly end (exit 0/1 with a
// report, or exit 3 when the source cannot be opened at all).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/targets.h"
#include "salvage/run.h"

namespace mr::fuzz {
namespace {

namespace fs = std::filesystem;

struct Region {
  std::uint64_t offset = 0, length = 0;
};

struct Base {
  std::string path;
  std::vector<char> bytes;
  std::vector<Region> regions;
  std::uint64_t total = 0;  // sum of region lengths
  fs::path scratch;
};

std::string& BasePath() {
  static std::string p;
  return p;
}

fs::path& ScratchDir() {
  static fs::path p;
  return p;
}

ImageStats& Stats() {
  static ImageStats s;
  return s;
}

Base LoadBase() {
  Base b;
  b.path = BasePath();
  if (b.path.empty()) {
    const char* env = std::getenv("MR_FUZZ_IMAGE");
    if (!env) FuzzFail("image target: set MR_FUZZ_IMAGE to the base image (fuzz/make_corpus.py)");
    b.path = env;
  }
  std::ifstream in(b.path, std::ios::binary);
  if (!in) FuzzFail("image target: cannot read " + b.path);
  b.bytes.assign(std::istreambuf_iterator<char>(in), {});
  std::ifstream rf(b.path + ".regions");
  if (!rf) FuzzFail("image target: cannot read " + b.path + ".regions");
  Region r;
  while (rf >> r.offset >> r.length) {
    if (r.offset + r.length > b.bytes.size()) FuzzFail("image target: region outside the image");
    b.regions.push_back(r);
    b.total += r.length;
  }
  if (b.total == 0) FuzzFail("image target: no metadata regions");
  const char* tmp = std::getenv("TMPDIR");
  fs::path root = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::path(tmp ? tmp : "/tmp");
  b.scratch = root / ("mr-fuzz-image-" + std::to_string(::getpid()));
  fs::remove_all(b.scratch);
  fs::create_directories(b.scratch);
  ScratchDir() = b.scratch;
  // The scratch image lives in /dev/shm (RAM): remove it when the process exits.
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(ScratchDir(), ec);
  });
  return b;
}

Base& TheBase() {
  static Base b = LoadBase();
  return b;
}

}  // namespace

void SetBaseImage(const std::string& path) { BasePath() = path; }
ImageStats ImageTargetStats() { return Stats(); }

int FuzzImage(const std::uint8_t* data, std::size_t size) {
  Base& b = TheBase();
  std::vector<char> img = b.bytes;
  for (std::size_t i = 0; i + 5 <= size && i < 5 * 256; i += 5) {
    std::uint64_t pos = (std::uint64_t(data[i]) | (std::uint64_t(data[i + 1]) << 8) |
                         (std::uint64_t(data[i + 2]) << 16) | (std::uint64_t(data[i + 3]) << 24)) %
                        b.total;
    const std::uint8_t mask = data[i + 4] ? data[i + 4] : 0xff;
    for (const Region& r : b.regions) {
      if (pos < r.length) {
        img[r.offset + pos] = static_cast<char>(img[r.offset + pos] ^ mask);
        break;
      }
      pos -= r.length;
    }
  }
  const fs::path image = b.scratch / "image.img", out = b.scratch / "out",
                 report = b.scratch / "report.json";
  fs::remove_all(out);
  fs::remove(report);
  {
    std::ofstream o(image, std::ios::binary | std::ios::trunc);
    o.write(img.data(), static_cast<std::streamsize>(img.size()));
    if (!o) FuzzFail("image target: cannot write the scratch image");
  }
  salvage::SalvageOptions opts;
  opts.source = image.string();
  opts.out_dir = out.string();
  opts.jobs = 1;
  salvage::RunOptions run;
  run.report = report.string();
  auto res = salvage::RunSalvage(opts, run, nullptr);
  ++Stats().runs;
  if (res.ok()) {
    if (!fs::exists(report)) FuzzFail("image: salvage finished without a report");
    if (!fs::exists(out / "salvage.json")) FuzzFail("image: salvage finished without salvage.json");
    ++(res->needs_attention ? Stats().exit1 : Stats().exit0);
  } else if (res.error().code == Code::kCannotOpen || res.error().code == Code::kUnsupported) {
    ++Stats().exit3;  // the CLI's exit 3: the source cannot be opened at all
  } else {
    FuzzFail("image: salvage failed with " + std::string(CodeName(res.error().code)) + ": " +
             res.error().message);
  }
  fs::remove_all(out);
  return 0;
}

}  // namespace mr::fuzz
