// dlist parse/format: Cyrus's quoting rules, real Cyrus bytes, malformed input.
#include "reconcile/cyrus/dlist.h"

#include <gtest/gtest.h>

#include <random>

namespace mr::cyrus {
namespace {

TEST(Dlist, FormatsStringsLikeCyrus) {
  EXPECT_EQ(FormatDlistString(""), "\"\"");
  EXPECT_EQ(FormatDlistString("abc"), "abc");
  EXPECT_EQ(FormatDlistString("NIL"), "\"NIL\"");
  EXPECT_EQ(FormatDlistString("nil"), "nil");
  EXPECT_EQ(FormatDlistString("a b"), "\"a b\"");
  EXPECT_EQ(FormatDlistString("a(b"), "\"a(b\"");
  EXPECT_EQ(FormatDlistString("a)b"), "\"a)b\"");
  EXPECT_EQ(FormatDlistString("a{b"), "\"a{b\"");
  EXPECT_EQ(FormatDlistString("a*b"), "\"a*b\"");
  EXPECT_EQ(FormatDlistString("a]b"), "a]b");
  EXPECT_EQ(FormatDlistString("user\x1F" "bob"), "user\x1F" "bob");   // 0x1F is an atom byte
  EXPECT_EQ(FormatDlistString("ex.com\x1Duser"), "\"ex.com\x1Duser\"");  // other controls quote
  EXPECT_EQ(FormatDlistString("a\tb"), "\"a\tb\"");
  // not quotable: literal
  EXPECT_EQ(FormatDlistString("a\"b"), "{3+}\r\na\"b");
  EXPECT_EQ(FormatDlistString("a%b"), "{3+}\r\na%b");
  EXPECT_EQ(FormatDlistString("a\\b"), "{3+}\r\na\\b");
  EXPECT_EQ(FormatDlistString("a\nb"), "{3+}\r\na\nb");
  EXPECT_EQ(FormatDlistString("a\rb"), "{3+}\r\na\rb");
  EXPECT_EQ(FormatDlistString("caf\xc3\xa9"), "{5+}\r\ncaf\xc3\xa9");
  EXPECT_EQ(FormatDlistString(std::string("a\0b", 3)), std::string("{3+}\r\na\0b", 9));
  // lengths: atoms and quoted strings stop below 1024 bytes
  EXPECT_EQ(FormatDlistString(std::string(1023, 'x')), std::string(1023, 'x'));
  EXPECT_EQ(FormatDlistString(std::string(1024, 'x')), "{1024+}\r\n" + std::string(1024, 'x'));
  EXPECT_EQ(FormatDlistString(std::string(1023, ' ')), "\"" + std::string(1023, ' ') + "\"");
  EXPECT_EQ(FormatDlistString(std::string(1024, ' ')), "{1024+}\r\n" + std::string(1024, ' '));
  // system flags print bare
  EXPECT_EQ(FormatDlistString("\\Seen"), "\\Seen");
}

// Values as written by real Cyrus 3.6 (cyr_dbtool show, cyrus.header).
TEST(Dlist, ReproducesRealCyrusBytes) {
  const std::string samples[] = {
      "%(T e I abc123def456ghi789jkl012 P default V 1700000000 C 1 F 5 M 1795865006 "
      "A %(bob lrswipkxtecdan anyone p))",
      "%(T e N \"user\x1F" "fred.smith\x1FWork Stuff\" P default V 1700000002 C 3 F 4 "
      "M 1795865006 A %(fred.smith lrswipkxtecdan) H ())",
      "%(T ed N user\x1F" "bob\x1FGone P default V 1700000003 C 2 F 9 M 1795865006 A %() H ())",
      "%(T e N \"example.com\x1Duser\x1F" "bob\" P default M 1 A %(bob@example.com lrs) H ())",
      "%(T e N user.bob I 5f3c A %(bob lrswipkxtecdan anyone p) U ($Label1 NIL \"Work Item\"))",
  };
  for (const std::string& s : samples) {
    auto d = ParseDlist(s);
    ASSERT_TRUE(d.ok()) << s << ": " << d.error().message;
    EXPECT_EQ(FormatDlist(*d), s);
  }
}

TEST(Dlist, ParsesAllValueForms) {
  auto d = ParseDlist("%(a x b \"q \\\"uo\\\\te\" c NIL d {3}\r\nA B e {2+}\r\n() "
                      "f (1 (2 3) %(k v)) g \"\")");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->GetAtom("a"), "x");
  EXPECT_EQ(d->GetAtom("b"), "q \"uo\\te");
  ASSERT_NE(d->Get("c"), nullptr);
  EXPECT_TRUE(d->Get("c")->nil);
  EXPECT_EQ(d->GetAtom("c", "dflt"), "dflt");
  EXPECT_EQ(d->GetAtom("d"), "A B");
  EXPECT_EQ(d->GetAtom("e"), "()");
  const Dlist* f = d->Get("f");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->kind, Dlist::Kind::kList);
  ASSERT_EQ(f->items.size(), 3u);
  EXPECT_EQ(f->items[1].items[1].atom, "3");
  EXPECT_EQ(f->items[2].GetAtom("k"), "v");
  EXPECT_EQ(d->GetAtom("g", "dflt"), "");
  EXPECT_EQ(d->Get("zz"), nullptr);
  EXPECT_EQ(d->GetAtom("f", "notatom"), "notatom");
  // whitespace around the value is tolerated (a cyrus.header line ends in LF)
  EXPECT_TRUE(ParseDlist("  %(a b)\n").ok());
}

TEST(Dlist, RejectsMalformedInputWithOneLineErrors) {
  const std::string bad[] = {"", "(", "(a", "%(a", "%(a b", "%x", ")", "\"abc", "{5+}\r\nab",
                             "{99999999999999999999999+}\r\nab", "{3}ab", "{}\r\n", "a b",
                             "%(NIL x)", "(a))", "{3+}\r\n"};
  for (const std::string& s : bad) {
    auto d = ParseDlist(s);
    EXPECT_FALSE(d.ok()) << "accepted: " << s;
    if (!d.ok()) {
      EXPECT_EQ(d.error().message.find('\n'), std::string::npos);
      EXPECT_NE(d.error().message.find("dlist"), std::string::npos);
    }
  }
  std::string deep(5000, '(');
  deep += std::string(5000, ')');
  EXPECT_FALSE(ParseDlist(deep).ok());
  std::string ok_deep(200, '(');
  ok_deep += std::string(200, ')');
  EXPECT_TRUE(ParseDlist(ok_deep).ok());
}

Dlist RandomDlist(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 0 : 2);
  std::uniform_int_distribution<int> len(0, 12);
  std::uniform_int_distribution<int> byte(0, 255);
  auto str = [&] {
    std::string s;
    int n = len(rng);
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(byte(rng) % 4 ? 'a' + byte(rng) % 26 : byte(rng)));
    return s;
  };
  switch (kind(rng)) {
    case 0: return rng() % 10 == 0 ? Dlist::Nil() : Dlist::Atom(str());
    case 1: {
      Dlist l = Dlist::List({});
      for (int i = len(rng) % 4; i > 0; --i) l.items.push_back(RandomDlist(rng, depth + 1));
      return l;
    }
    default: {
      Dlist l = Dlist::KvList({});
      for (int i = len(rng) % 4; i > 0; --i) {
        std::string k = str();
        if (k.empty()) k = "k";
        l.kv.emplace_back(k, RandomDlist(rng, depth + 1));
      }
      return l;
    }
  }
}

TEST(Dlist, RandomRoundTrips) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    Dlist d = RandomDlist(rng, 0);
    std::string text = FormatDlist(d);
    auto back = ParseDlist(text);
    ASSERT_TRUE(back.ok()) << back.error().message << " in " << text;
    EXPECT_EQ(*back, d) << text;
    EXPECT_EQ(FormatDlist(*back), text);
  }
}

TEST(Dlist, RandomGarbageNeverCrashes) {
  std::mt19937 rng(7);
  const char alphabet[] = "()%{}+\r\n \"\\NIL0123abc";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int j = 0; j < n; ++j) s.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
    auto d = ParseDlist(s);
    if (d.ok()) {
      EXPECT_TRUE(ParseDlist(FormatDlist(*d)).ok()) << s;
    }
  }
}

}  // namespace
}  // namespace mr::cyrus
