// Cyrus "dlist": the typed list syntax inside cyrus.header (3.x) and the values of
// mailboxes.db records, e.g. `%(T e I 5f3c... P default A %(bob lrswipkxtecdan))`.
//
// Contract:
// - ParseDlist accepts one value: an atom, a "quoted string" (backslash escapes the next
//   byte), NIL, a literal `{n}`/`{n+}` CRLF <n bytes>, a list `( ... )` or a kvlist
//   `%( key value ... )`, with optional surrounding whitespace. Malformed input (unbalanced
//   brackets, a literal longer than the text, nesting deeper than 256) is an Error naming
//   the offset, never a crash; no allocation is sized from an unchecked length.
// - FormatDlist reproduces Cyrus's own printer (imap/dlist.c dlist_print with
//   lib/prot.c prot_printastring): an empty string prints `""`; an atom-safe string
//   (no control byte below 0x1F, no 0x7f, no 8-bit byte, space or `{ ( ) " % * \`,
//   shorter than 1024 and not `NIL`) prints bare; otherwise a string with no CR, LF,
//   `"`, `%`, `\`, 8-bit byte or NUL and shorter than 1024 prints "quoted" (no escapes);
//   anything else prints as a non-synchronizing literal `{n+}` CRLF bytes (as Cyrus
//   3.6.1 writes them).
//   NIL prints `NIL`. A string starting with `\` followed by atom-safe bytes is a
//   system flag (`\Seen`) and prints bare, as Cyrus prints DL_FLAG values.
// - Values are plain data; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mr::cyrus {

struct Dlist {
  enum class Kind { kAtom, kList, kKvList } kind = Kind::kAtom;
  std::string atom;                                // kAtom: the bytes
  bool nil = false;                                // kAtom: the value was NIL
  std::vector<Dlist> items;                        // kList
  std::vector<std::pair<std::string, Dlist>> kv;   // kKvList, in file order

  // kKvList: the first value stored under `key`, or nullptr.
  const Dlist* Get(std::string_view key) const;
  // kKvList: the atom stored under `key`; `dflt` if absent, NIL or not an atom.
  std::string GetAtom(std::string_view key, std::string_view dflt = "") const;

  static Dlist Atom(std::string s);
  static Dlist Nil();
  static Dlist List(std::vector<Dlist> items);
  static Dlist KvList(std::vector<std::pair<std::string, Dlist>> kv);

  friend bool operator==(const Dlist&, const Dlist&) = default;
};

Result<Dlist> ParseDlist(std::string_view text);
std::string FormatDlist(const Dlist& dl);

// How Cyrus prints one string (atom, "quoted" or literal); exposed for key printing.
std::string FormatDlistString(std::string_view s);

}  // namespace mr::cyrus
