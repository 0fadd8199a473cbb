#include "common/sha1.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace mr {

namespace {

// Fetched once: EVP_sha1() in EVP_DigestInit_ex makes OpenSSL 3 look the
// algorithm up again (under a global rwlock) for every init, i.e. per file.
const EVP_MD* Sha1Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

}  // namespace

struct Sha1::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha1::Sha1() : impl_(std::make_unique<Impl>()) {
  const EVP_MD* md = Sha1Md();
  impl_->ctx = EVP_MD_CTX_new();
  if (!md || !impl_->ctx || EVP_DigestInit_ex2(impl_->ctx, md, nullptr) != 1)
    throw std::runtime_error("OpenSSL SHA1 init failed");
}

Sha1::~Sha1() { EVP_MD_CTX_free(impl_->ctx); }

void Sha1::Update(const void* data, std::size_t len) {
  if (len) EVP_DigestUpdate(impl_->ctx, data, len);
}

Digest Sha1::Final() {
  Digest d{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, d.data(), &n);
  EVP_DigestInit_ex2(impl_->ctx, Sha1Md(), nullptr);
  return d;
}

Digest Sha1Of(std::span<const std::uint8_t> data) {
  Sha1 h;
  h.Update(data);
  return h.Final();
}

Digest Sha1Of(std::string_view data) {
  Sha1 h;
  h.Update(data.data(), data.size());
  return h.Final();
}

Result<Digest> Sha1Fd(int fd, std::uint64_t* size) {
  Sha1 h;
  std::vector<std::uint8_t> buf(1 << 16);
  std::uint64_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", errno);
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
  if (size) *size = off;
  return h.Final();
}

Result<Digest> Sha1File(const std::string& path, std::uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, errno);
  auto r = Sha1Fd(fd, size);
  ::close(fd);
  if (!r) return Error{r.error().code, path + ": " + r.error().message};
  return r;
}

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

std::string ToHex(const Digest& d) { return ToHex(std::span<const std::uint8_t>(d)); }

static int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool FromHex(std::string_view hex, Digest* out) {
  if (hex.size() != 40) return false;
  for (std::size_t i = 0; i < 20; ++i) {
    int hi = HexVal(hex[2 * i]), lo = HexVal(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool IsZero(const Digest& d) {
  for (auto b : d)
    if (b) return false;
  return true;
}

}  // namespace mr
