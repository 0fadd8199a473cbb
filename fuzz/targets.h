// fuzz targets: one entry point per parser of untrusted bytes, shared by the
// libFuzzer binaries (fuzz/, MAILRESCUE_FUZZ=ON, clang) and the corpus-replay
// gtest (tests/reliability/, every build) so CI runs the same inputs without
// clang.
//
// Each function takes one input, must never crash, hang or allocate from an
// unchecked length, and checks the parser's own contract (see each header); a
// broken contract calls FuzzFail, which aborts so libFuzzer records the input.
// Returns 0 (libFuzzer's convention). Not thread-safe (the image target owns a
// scratch directory); call from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mr::fuzz {

using FuzzFn = int (*)(const std::uint8_t* data, std::size_t size);

struct Target {
  const char* name;  // also the corpus directory name and the binary suffix
  FuzzFn fn;
};

// Every target, in a fixed order: dirblock, badmap, index, header, dlist,
// twoskip, mboxdb, image.
const std::vector<Target>& Targets();

int FuzzDirBlock(const std::uint8_t* data, std::size_t size);
int FuzzBadmap(const std::uint8_t* data, std::size_t size);
int FuzzIndex(const std::uint8_t* data, std::size_t size);
int FuzzHeader(const std::uint8_t* data, std::size_t size);
int FuzzDlist(const std::uint8_t* data, std::size_t size);
int FuzzTwoskip(const std::uint8_t* data, std::size_t size);
int FuzzMboxdb(const std::uint8_t* data, std::size_t size);

// Whole-image target: the input is a list of 5-byte mutations (u32 LE position
// in the metadata regions of a base image, u8 XOR mask; 0 means 0xff) applied
// to a small ext4 image, which is then salvaged in process. The base image is
// $MR_FUZZ_IMAGE (default: the file written by fuzz/make_corpus.py), its
// metadata byte ranges in $MR_FUZZ_IMAGE.regions ("offset length" lines).
// Salvage must end like exit 0, 1 or 3 (3 only when the source cannot be
// opened) with a report; anything else is a failure.
int FuzzImage(const std::uint8_t* data, std::size_t size);

// Outcome counts of the image target since start (for logs and tests).
struct ImageStats {
  std::uint64_t runs = 0, exit0 = 0, exit1 = 0, exit3 = 0;
};
ImageStats ImageTargetStats();
// Points the image target at a base image (overrides $MR_FUZZ_IMAGE).
void SetBaseImage(const std::string& path);

[[noreturn]] void FuzzFail(std::string_view what);

}  // namespace mr::fuzz
