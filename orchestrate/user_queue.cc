#include "orchestrate/user_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "orchestrate/userlist.h"

namespace mr::orchestrate {

UserQueue::UserQueue(std::vector<std::pair<std::string, std::string>> users, std::string priority_file)
    : base_(std::move(users)), priority_file_(std::move(priority_file)) {
  for (std::size_t i = 0; i < base_.size(); ++i) {
    target_of_[base_[i].first] = base_[i].second;
    base_pos_.emplace(base_[i].first, i);
  }
}

void UserQueue::RefreshPriorityLocked() {
  if (priority_file_.empty()) return;
  int fd = ::open(priority_file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // not there yet: a login handler may create it later
  off_t end = ::lseek(fd, 0, SEEK_END);
  if (end >= 0 && static_cast<std::uint64_t>(end) < priority_offset_) {
    // Truncated or replaced: read it again from the start.
    priority_offset_ = 0;
    partial_line_.clear();
  }
  std::string chunk;
  char buf[8192];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(priority_offset_));
    if (n <= 0) break;
    chunk.append(buf, static_cast<std::size_t>(n));
    priority_offset_ += static_cast<std::uint64_t>(n);
    if (chunk.size() > (64u << 20)) break;
  }
  ::close(fd);
  if (chunk.empty()) return;
  std::string text = partial_line_ + chunk;
  auto last_nl = text.rfind('\n');
  if (last_nl == std::string::npos) {
    partial_line_ = text;  // a line still being written
    return;
  }
  partial_line_ = text.substr(last_nl + 1);
  for (auto& u : ParseUserNames(std::string_view(text).substr(0, last_nl + 1))) {
    if (!target_of_.count(u) || promoted_set_.count(u)) continue;
    promoted_set_.insert(u);
    promoted_.push_back(u);
  }
}

std::optional<std::string> UserQueue::Next(const std::string& target) {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshPriorityLocked();
  // Each list is scanned from the target's cursor: what lies before it is
  // taken or another target's, so a queue of thousands of users costs
  // O(1) amortised per Next instead of a scan from the front.
  Cursor& c = cursor_[target];
  for (std::size_t i = c.promoted; i < promoted_.size(); ++i) {
    const std::string& u = promoted_[i];
    if (taken_.count(u) || target_of_[u] != target) continue;
    taken_.insert(u);
    c.promoted = i + 1;
    return u;
  }
  c.promoted = promoted_.size();
  for (std::size_t i = c.base; i < base_.size(); ++i) {
    const auto& [u, t] = base_[i];
    if (t != target || taken_.count(u)) continue;
    taken_.insert(u);
    c.base = i + 1;
    return u;
  }
  c.base = base_.size();
  return std::nullopt;
}

void UserQueue::Finish(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  taken_.insert(user);
}

void UserQueue::Requeue(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  taken_.erase(user);
  // Back in reach of its target's cursors.
  auto t = target_of_.find(user);
  if (t == target_of_.end()) return;
  Cursor& c = cursor_[t->second];
  if (auto b = base_pos_.find(user); b != base_pos_.end()) c.base = std::min(c.base, b->second);
  for (std::size_t i = 0; i < promoted_.size() && i < c.promoted; ++i)
    if (promoted_[i] == user) c.promoted = i;
}

std::size_t UserQueue::Waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [u, t] : base_)
    if (!taken_.count(u)) ++n;
  return n;
}

std::vector<std::string> UserQueue::Promoted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return promoted_;
}

}  // namespace mr::orchestrate
