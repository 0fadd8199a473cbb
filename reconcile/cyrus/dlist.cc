// Cyrus dlist parser and printer; see dlist.h for the contract.
#include "reconcile/cyrus/dlist.h"

#include <cstddef>
#include <cstdint>

namespace mr::cyrus {
namespace {

constexpr int kMaxDepth = 256;
constexpr std::size_t kMaxQuoted = 1024;  // Cyrus MAXQSTRING

// Cyrus 3.6 lets 0x1F (the mailboxes.db hierarchy separator) into atoms; other
// control bytes force quoting.
bool AtomSafe(unsigned char c) {
  return !(c & 0x80) && c >= 0x1f && c != 0x7f && c != ' ' && c != '{' && c != '(' &&
         c != ')' && c != '"' && c != '%' && c != '*' && c != '\\';
}

bool QuoteSafe(unsigned char c) {
  return c != 0 && !(c & 0x80) && c != '\r' && c != '\n' && c != '"' && c != '%' &&
         c != '\\';
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  Result<Dlist> Top() {
    SkipSpace();
    auto v = Value(0);
    if (!v.ok()) return v;
    SkipSpace();
    if (p_ != t_.size()) return Fail("trailing bytes after the value");
    return v;
  }

 private:
  Error Fail(const std::string& what) const {
    return Error{Code::kCorrupt, "dlist: " + what + " at offset " + std::to_string(p_)};
  }
  void SkipSpace() {
    while (p_ < t_.size() && IsSpace(t_[p_])) ++p_;
  }

  Result<Dlist> Value(int depth) {
    if (depth > kMaxDepth) return Fail("nesting deeper than 256");
    if (p_ >= t_.size()) return Fail("unexpected end");
    char c = t_[p_];
    if (c == '(') {
      ++p_;
      Dlist out = Dlist::List({});
      for (;;) {
        SkipSpace();
        if (p_ >= t_.size()) return Fail("unterminated list");
        if (t_[p_] == ')') { ++p_; return out; }
        auto item = Value(depth + 1);
        if (!item.ok()) return item;
        out.items.push_back(std::move(item).value());
      }
    }
    if (c == '%') {
      ++p_;
      if (p_ >= t_.size() || t_[p_] != '(') return Fail("'%' not followed by '('");
      ++p_;
      Dlist out = Dlist::KvList({});
      for (;;) {
        SkipSpace();
        if (p_ >= t_.size()) return Fail("unterminated kvlist");
        if (t_[p_] == ')') { ++p_; return out; }
        auto key = String();
        if (!key.ok()) return key.error();
        if (key->nil) return Fail("NIL used as a kvlist key");
        SkipSpace();
        auto val = Value(depth + 1);
        if (!val.ok()) return val;
        out.kv.emplace_back(std::move(key->atom), std::move(val).value());
      }
    }
    if (c == ')') return Fail("unexpected ')'");
    return String();
  }

  // An atom, NIL, a quoted string or a literal.
  Result<Dlist> String() {
    if (p_ >= t_.size()) return Fail("unexpected end");
    char c = t_[p_];
    if (c == '"') {
      ++p_;
      std::string s;
      while (p_ < t_.size()) {
        char d = t_[p_++];
        if (d == '"') return Dlist::Atom(std::move(s));
        if (d == '\\') {
          if (p_ >= t_.size()) break;
          d = t_[p_++];
        }
        s.push_back(d);
      }
      return Fail("unterminated quoted string");
    }
    if (c == '{') {
      std::size_t start = p_;
      ++p_;
      std::uint64_t n = 0;
      bool digits = false;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') {
        n = n * 10 + static_cast<std::uint64_t>(t_[p_] - '0');
        digits = true;
        ++p_;
        if (n > t_.size()) { p_ = start; return Fail("literal longer than the text"); }
      }
      if (p_ < t_.size() && t_[p_] == '+') ++p_;
      if (!digits || p_ >= t_.size() || t_[p_] != '}') { p_ = start; return Fail("bad literal header"); }
      ++p_;
      if (p_ < t_.size() && t_[p_] == '\r') ++p_;
      if (p_ >= t_.size() || t_[p_] != '\n') { p_ = start; return Fail("literal header without CRLF"); }
      ++p_;
      if (n > t_.size() - p_) { p_ = start; return Fail("literal longer than the text"); }
      std::string s(t_.substr(p_, n));
      p_ += n;
      return Dlist::Atom(std::move(s));
    }
    std::size_t start = p_;
    while (p_ < t_.size() && !IsSpace(t_[p_]) && t_[p_] != '(' && t_[p_] != ')') ++p_;
    if (p_ == start) return Fail("empty atom");
    std::string_view a = t_.substr(start, p_ - start);
    if (a == "NIL") return Dlist::Nil();
    return Dlist::Atom(std::string(a));
  }

  std::string_view t_;
  std::size_t p_ = 0;
};

void Format(const Dlist& dl, std::string* out) {
  switch (dl.kind) {
    case Dlist::Kind::kAtom:
      if (dl.nil) {
        out->append("NIL");
      } else {
        out->append(FormatDlistString(dl.atom));
      }
      return;
    case Dlist::Kind::kList:
      out->push_back('(');
      for (std::size_t i = 0; i < dl.items.size(); ++i) {
        if (i) out->push_back(' ');
        Format(dl.items[i], out);
      }
      out->push_back(')');
      return;
    case Dlist::Kind::kKvList:
      out->append("%(");
      for (std::size_t i = 0; i < dl.kv.size(); ++i) {
        if (i) out->push_back(' ');
        out->append(FormatDlistString(dl.kv[i].first));
        out->push_back(' ');
        Format(dl.kv[i].second, out);
      }
      out->push_back(')');
      return;
  }
}

}  // namespace

const Dlist* Dlist::Get(std::string_view key) const {
  if (kind != Kind::kKvList) return nullptr;
  for (const auto& [k, v] : kv) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string Dlist::GetAtom(std::string_view key, std::string_view dflt) const {
  const Dlist* v = Get(key);
  if (!v || v->kind != Kind::kAtom || v->nil) return std::string(dflt);
  return v->atom;
}

Dlist Dlist::Atom(std::string s) {
  Dlist d;
  d.atom = std::move(s);
  return d;
}

Dlist Dlist::Nil() {
  Dlist d;
  d.nil = true;
  return d;
}

Dlist Dlist::List(std::vector<Dlist> items) {
  Dlist d;
  d.kind = Kind::kList;
  d.items = std::move(items);
  return d;
}

Dlist Dlist::KvList(std::vector<std::pair<std::string, Dlist>> kv) {
  Dlist d;
  d.kind = Kind::kKvList;
  d.kv = std::move(kv);
  return d;
}

Result<Dlist> ParseDlist(std::string_view text) { return Parser(text).Top(); }

std::string FormatDlist(const Dlist& dl) {
  std::string out;
  Format(dl, &out);
  return out;
}

std::string FormatDlistString(std::string_view s) {
  if (s.empty()) return "\"\"";
  bool atom = s.size() < kMaxQuoted && s != "NIL";
  for (unsigned char c : s) {
    if (!AtomSafe(c)) { atom = false; break; }
  }
  if (atom) return std::string(s);
  if (s.size() > 1 && s[0] == '\\') {  // a system flag, printed bare like DL_FLAG
    bool flag = true;
    for (unsigned char c : s.substr(1)) {
      if (!AtomSafe(c)) { flag = false; break; }
    }
    if (flag) return std::string(s);
  }
  bool quote = s.size() < kMaxQuoted;
  for (unsigned char c : s) {
    if (!QuoteSafe(c)) { quote = false; break; }
  }
  if (quote) return "\"" + std::string(s) + "\"";
  // Cyrus's dlist printer writes non-synchronizing literals ("{n+}").
  return "{" + std::to_string(s.size()) + "+}\r\n" + std::string(s);
}

}  // namespace mr::cyrus
