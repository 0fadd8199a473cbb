// Index-record facts from a message file, as Cyrus 3.6 computes them. See
// message.h for the rules; the date grammar follows lib/times.c's tokeniser
// (including its quirks around time zones) so our values match Cyrus's.
#include "reconcile/cyrus/message.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>
#include <optional>


namespace mr::cyrus {
namespace {

constexpr int kEob = -1;
constexpr std::size_t kMaxToken = 32;  // Cyrus's RFC5322_DATETIME_MAX

bool IsWs(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSep(int c) { return c == ' ' || c == ',' || c == '-' || c == '+' || c == ':'; }
bool IsDigit(int c) { return c >= '0' && c <= '9'; }
bool IsUpper(int c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(int c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(int c) { return IsUpper(c) || IsLower(c); }
int Upper(int c) { return IsLower(c) ? c - 32 : c; }
int Lower(int c) { return IsUpper(c) ? c + 32 : c; }

// A cursor with Cyrus's get_current_char/get_next_char semantics: reading
// at the end gives kEob, stepping onto the end gives NUL.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  int Current() const { return pos_ < s_.size() ? Byte(pos_) : kEob; }
  int Next() {
    if (pos_ < s_.size()) {
      ++pos_;
      return pos_ < s_.size() ? Byte(pos_) : 0;
    }
    return kEob;
  }
  void SkipWs() {
    while (pos_ < s_.size() && IsWs(Byte(pos_))) ++pos_;
  }
  // A run of letters/digits; nullopt only when already at the end.
  std::optional<std::string> Token() {
    if (Current() == kEob) return std::nullopt;
    std::string t;
    int c = Current();
    while (c != kEob && c != 0 && !IsWs(c) && !IsSep(c) && (IsAlpha(c) || IsDigit(c)) &&
           t.size() < kMaxToken) {
      t.push_back(static_cast<char>(c));
      c = Next();
    }
    return t;
  }

 private:
  int Byte(std::size_t i) const { return static_cast<unsigned char>(s_[i]); }
  std::string_view s_;
  std::size_t pos_ = 0;
};

int ToInt(const std::string& t) {
  int n = 0;
  for (char c : t) {
    if (!IsDigit(c)) return -9999;
    n = n * 10 + (c - '0');
  }
  return n;
}

bool SmallNumber(const std::optional<std::string>& t) {
  return t && !t->empty() && t->size() <= 2 && IsDigit((*t)[0]);
}

// Minutes east of UTC, as Cyrus's compute_tzoffset.
long TzOffsetMinutes(const std::string& t, int sign) {
  if (t.size() == 1) {
    const int ch = Upper(t[0]);
    if (ch < 'J') return (t[0] - 'A' + 1) * 60;
    if (ch == 'J') return 0;
    if (ch <= 'M') return (t[0] - 'A') * 60;
    if (ch < 'Z') return ('M' - t[0]) * 60;
    return 0;
  }
  if (t.size() == 2 && Upper(t[0]) == 'U' && Upper(t[1]) == 'T') return 0;
  if (t.size() == 3) {
    if (Upper(t[2]) != 'T') return 0;
    const char* zones = "AECMPYHB";
    const char* p = std::strchr(zones, Upper(t[0]));
    if (!p) return 0;
    const long off = (static_cast<long>(std::strlen(p)) - 12) * 60;
    if (Upper(t[1]) == 'D') return off + 60;
    if (Upper(t[1]) == 'S') return off;
    return 0;
  }
  if (t.size() == 4) {
    for (char c : t)
      if (!IsDigit(c)) return 0;
    const long off = ((t[0] - '0') * 10 + (t[1] - '0')) * 60 + (t[2] - '0') * 10 + (t[3] - '0');
    return sign == '+' ? off : -off;
  }
  return 0;
}

// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12); handles
// any month/day overflow the way timegm normalises.
std::int64_t DaysFromCivil(std::int64_t y, std::int64_t m, std::int64_t d) {
  y += (m - 1) / 12;
  m = (m - 1) % 12 + 1;
  if (m <= 0) { m += 12; --y; }
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::string_view AsText(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (Lower(static_cast<unsigned char>(a[i])) != Lower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

std::int64_t ParseRfc5322Date(std::string_view value, bool date_only) {
  static constexpr std::array<const char*, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  Cursor cur(value);
  cur.SkipWs();
  if (cur.Current() == kEob) return -1;
  if (IsAlpha(cur.Current())) {  // day name: three letters, then ','
    auto t = cur.Token();
    if (!t || t->size() != 3) return -1;
    if (cur.Current() != ',') return -1;
    cur.Next();
    cur.SkipWs();
  }
  auto day = cur.Token();
  if (!SmallNumber(day)) return -1;
  const int mday = ToInt(*day);
  if (mday < 0) return -1;
  if (IsWs(cur.Next())) cur.SkipWs();  // one separator, then any blanks
  auto mon = cur.Token();
  if (!mon || mon->size() != 3 || !IsAlpha((*mon)[0])) return -1;
  std::string m = {static_cast<char>(Upper((*mon)[0])), static_cast<char>(Lower((*mon)[1])),
                   static_cast<char>(Lower((*mon)[2]))};
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) month = i;
  if (month < 0) return -1;
  if (IsWs(cur.Next())) cur.SkipWs();
  auto yt = cur.Token();
  if (!yt) return -1;
  int year = ToInt(*yt);
  if (year == -9999) return -1;
  if (yt->size() == 2) {
    year += year < 70 ? 2000 : 1900;
  } else if (year < 1900) {
    return -1;
  }
  int hour = 0, minute = 0, second = 0;
  long tz_minutes = 0;
  if (!date_only) {
    cur.SkipWs();
    auto h = cur.Token();
    if (!SmallNumber(h)) return -1;
    hour = ToInt(*h);
    if (cur.Current() != ':' && cur.Current() != '.') return -1;
    cur.Next();
    auto mi = cur.Token();
    if (!SmallNumber(mi)) return -1;
    minute = ToInt(*mi);
    if (cur.Current() == ':' || cur.Current() == '.') {
      cur.Next();
      auto s = cur.Token();
      if (!SmallNumber(s)) return -1;
      second = ToInt(*s);
    }
    cur.SkipWs();
    const int sign = cur.Current();
    if (sign == '+' || sign == '-') cur.Next();
    auto z = cur.Token();
    if (z) tz_minutes = TzOffsetMinutes(*z, sign);
  }
  if (hour < 0 || minute < 0 || second < 0) return -1;
  const std::int64_t t = DaysFromCivil(year, month + 1, mday) * 86400 + hour * 3600 +
                         minute * 60 + second;
  if (t < 0) return -1;
  return t - tz_minutes * 60;
}

namespace {

// Cyrus's end of the header block: just past the first line that is exactly
// CRLF. Scans lines from *scan (the start of a line not yet examined) and
// advances it, so a caller can feed the text in growing prefixes.
std::optional<std::size_t> FindHeaderEnd(std::string_view text, std::size_t* scan) {
  std::size_t pos = *scan;
  while (text.size() - pos >= 2) {
    if (text.compare(pos, 2, "\r\n") == 0) return pos + 2;
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  *scan = pos;
  return std::nullopt;
}

// header_size, sentdate and gmtime from `text`, which holds at least the
// whole header block (all of the message when it has no end of header).
void AnalyzeHeader(std::string_view text, MessageFacts& f) {
  std::size_t scan = 0;
  const std::size_t header_end = FindHeaderEnd(text, &scan).value_or(text.size());
  // Cyrus measures the header with strlen: a NUL cuts it short.
  const std::size_t nul = text.substr(0, header_end).find('\0');
  f.header_size = static_cast<std::uint32_t>(nul == std::string_view::npos ? header_end : nul);
  const std::string_view header = text.substr(0, f.header_size);

  // The last "Date:" field wins; its value is unfolded.
  std::optional<std::string> date;
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t eol = header.find('\n', pos);
    if (eol == std::string_view::npos) eol = header.size();
    const std::string_view line = header.substr(pos, eol - pos);
    const std::size_t name_len = line.find_first_of(":\r\n");
    if (!line.empty() && line[0] != ' ' && line[0] != '\t' && name_len != std::string_view::npos &&
        line[name_len] == ':' && IEquals(line.substr(0, name_len), "date")) {
      // Collect the field up to the next line that does not start with blank.
      std::size_t end = eol;
      while (end + 1 < header.size() && (header[end + 1] == ' ' || header[end + 1] == '\t')) {
        const std::size_t next = header.find('\n', end + 1);
        end = next == std::string_view::npos ? header.size() : next;
      }
      std::string_view v = header.substr(pos + name_len + 1,
                                         std::min(end, header.size()) - (pos + name_len + 1));
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      std::string unfolded;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') { ++i; continue; }
        if (v[i] == '\n') continue;
        unfolded.push_back(v[i]);
      }
      if (!unfolded.empty() && unfolded.back() == '\r') unfolded.pop_back();
      date = std::move(unfolded);
      eol = end;
    }
    pos = eol + 1;
  }
  if (date) {
    const std::int64_t s = ParseRfc5322Date(*date, true);
    const std::int64_t g = ParseRfc5322Date(*date, false);
    f.sentdate = s < 0 ? 0 : s;
    f.gmtime = g < 0 ? 0 : g;
  }
  if (f.internaldate > 0) {
    if (f.gmtime == 0) f.gmtime = f.internaldate;
    if (f.sentdate == 0) f.sentdate = f.internaldate - f.internaldate % 86400;
  }
}

}  // namespace

MessageFacts ParseMessage(std::span<const std::uint8_t> msg, std::int64_t internaldate) {
  MessageFacts f;
  f.internaldate = internaldate;
  f.size = msg.size();
  f.guid = mr::Sha1Of(msg);
  AnalyzeHeader(AsText(msg), f);
  return f;
}

Result<MessageFacts> ParseMessageFile(const std::string& path) {
  // Streams the file: the SHA1 sees every byte, memory holds only the header.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return mr::ErrnoError(path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return mr::ErrnoError(path, errno);
  if (!S_ISREG(st.st_mode)) return Error{Code::kInvalidArgument, path + ": not a regular file"};
  if (static_cast<std::uint64_t>(st.st_size) > kMaxMessageFileSize)
    return Error{Code::kInvalidArgument, path + ": larger than " +
                                             std::to_string(kMaxMessageFileSize) + " bytes"};
  MessageFacts f;
  f.internaldate = static_cast<std::int64_t>(st.st_mtime);
  mr::Sha1 sha;
  std::string head;
  bool head_done = false;
  std::size_t scan = 0;
  std::vector<char> buf(1 << 16);
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return mr::ErrnoError(path, errno);
    }
    if (n == 0) break;
    sha.Update(buf.data(), static_cast<std::size_t>(n));
    f.size += static_cast<std::uint64_t>(n);
    if (f.size > kMaxMessageFileSize)
      return Error{Code::kInvalidArgument, path + ": grew beyond " +
                                               std::to_string(kMaxMessageFileSize) + " bytes"};
    if (!head_done) {
      head.append(buf.data(), static_cast<std::size_t>(n));
      head_done = FindHeaderEnd(head, &scan).has_value();
    }
  }
  f.guid = sha.Final();
  AnalyzeHeader(head, f);
  return f;
}

}  // namespace mr::cyrus
