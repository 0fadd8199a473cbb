// Small, safe file helpers shared by salvage/ and reconcile/.
//
// - ReadFile: whole file into memory, refusing files larger than a cap (input
//   sizes are never trusted to size allocations).
// - WriteFileAtomic: write to "<path>.tmp.<pid>", fsync, rename over <path>, so
//   a reader (or a crash) sees either the old or the new file, never half.
// - MakeDirs: mkdir -p that refuses to follow symlinks.
// - SanitizeName: turns a directory-entry name from a damaged filesystem into
//   one safe path component (no '/', NUL, "." or ".."; <= 255 bytes; no control
//   bytes and valid UTF-8, so the name survives salvage.json unchanged).
// All functions are thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mr {

inline constexpr std::uint64_t kDefaultReadCap = 1ull << 30;  // 1 GiB

Result<std::vector<std::uint8_t>> ReadFile(const std::string& path,
                                           std::uint64_t cap = kDefaultReadCap);
Status WriteFileAtomic(const std::string& path, std::span<const std::uint8_t> data,
                       bool do_fsync = true);
Status WriteFileAtomic(const std::string& path, std::string_view data, bool do_fsync = true);
Status MakeDirs(const std::string& path, unsigned mode = 0755);
// fsyncs a directory (after renames inside it).
Status SyncDir(const std::string& path);

// Returns `name` unchanged when it is a safe single path component; otherwise
// an encoded form "%mr-<hex of the raw bytes, truncated>" and sets *changed.
std::string SanitizeName(std::string_view name, bool* changed = nullptr);

// Joins a relative path under root, rejecting absolute paths and ".." parts.
Result<std::string> SafeJoin(const std::string& root, std::string_view rel);

}  // namespace mr
