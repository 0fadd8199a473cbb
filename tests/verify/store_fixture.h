// Test support for verify (and e2e): a pristine store written by real Cyrus
// 3.6, private copies of it to damage, running the mailrescue CLI and the
// Cyrus tools against a copy.
//
// Store source, in order of preference:
//   1. the shared fixture set ${MR_BINARY_DIR}/fixture-data/small-<layout>/current
//      (built by the ctest fixture `cyrus_store`, complete when its stamp exists);
//   2. otherwise a small store this module builds itself with
//      tests/verify/make_cyrus_store.py into ${MR_BINARY_DIR}/verify-data/<layout>
//      (once, under a file lock, so parallel test processes share it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reconcile/cyrus/index.h"
#include "reconcile/cyrus/mboxdb.h"

namespace mr::testing {

struct StoreDirs {
  std::string root;   // holds spool/ and conf/
  std::string spool() const { return root + "/spool"; }
  std::string conf() const { return root + "/conf"; }
  std::string db() const { return root + "/conf/mailboxes.db"; }
};

// The pristine store for "uuid" or "legacy" (never modify it).
StoreDirs PristineStore(const std::string& layout);

// A private copy under ${MR_BINARY_DIR}/verify-tmp/<name> (replaced if present),
// owned by cyrus:mail so the Cyrus tools can work on it.
StoreDirs CopyStore(const StoreDirs& from, const std::string& name);

struct RunResult {
  int rc = -1;
  std::string out;  // stdout
  std::vector<std::string> lines() const;
};

// Runs a shell command, capturing stdout (stderr goes to the test log).
RunResult Run(const std::string& cmd);
// Runs `mailrescue <args>`.
RunResult RunCli(const std::string& args);
// Runs a Cyrus tool (/usr/lib/cyrus/bin/<tool>) with -C pointing at a private
// imapd.conf for `store` (written on first use).
RunResult RunCyrus(const StoreDirs& store, const std::string& tool, const std::string& args);

// A mailbox of the store with its directory and index.
struct FolderAt {
  cyrus::MboxEntry entry;
  std::string dir;  // absolute
  cyrus::IndexFile index;
  std::vector<const cyrus::IndexRecord*> live() const;
};

// The first mailbox (by name, user `prefer_user` first) with at least
// `min_live` live records, skipping names in `avoid`.
FolderAt PickFolder(const StoreDirs& store, std::size_t min_live,
                    const std::string& prefer_user = "bob",
                    const std::vector<std::string>& avoid = {});

// Raw helpers on files (independent of the code under test).
std::vector<std::uint8_t> Slurp(const std::string& path);
void Spit(const std::string& path, const std::vector<std::uint8_t>& bytes);
std::uint32_t GetBE32(const std::vector<std::uint8_t>& b, std::size_t off);
void PutBE32(std::vector<std::uint8_t>& b, std::size_t off, std::uint32_t v);
// Recomputes the cyrus.index header CRC (bytes 156..159 over 0..155).
void FixIndexHeaderCrc(std::vector<std::uint8_t>& b);

}  // namespace mr::testing
