#include "salvage/tree.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace mr::salvage {

std::uint32_t NameArena::Add(std::string_view s) {
  constexpr std::uint32_t kBlock = 1u << kBlockBits;
  if (s.empty()) return 0;  // Get(_, 0) never looks at the blocks
  if (blocks_.empty() || s.size() > kBlock - used_) {
    if (blocks_.size() >= (std::uint64_t{1} << (32 - kBlockBits)))
      throw std::length_error("salvage: more than 4 GiB of entry names");  // a bug, not damage
    blocks_.push_back(std::make_unique<char[]>(kBlock));
    used_ = 0;
  }
  const auto at = static_cast<std::uint32_t>((blocks_.size() - 1) << kBlockBits) | used_;
  std::memcpy(blocks_.back().get() + used_, s.data(), s.size());
  used_ += static_cast<std::uint32_t>(s.size());
  return at;
}

std::int32_t Tree::Add(std::uint32_t ino, std::int32_t parent, NodeType type, bool resynced, std::string_view name) {
  Node n;
  n.ino = ino;
  n.parent = parent;
  n.type = type;
  n.resynced = resynced;
  nodes.push_back(n);
  const auto k = static_cast<std::int32_t>(nodes.size() - 1);
  SetName(k, name);
  return k;
}

void Tree::SetName(std::int32_t node, std::string_view name) {
  name = name.substr(0, 0xffff);
  nodes[node].name_at = names.Add(name);
  nodes[node].name_len = static_cast<std::uint16_t>(name.size());
}

std::string Tree::PathOf(std::int32_t node) const {
  std::vector<std::string_view> parts;
  std::int32_t cur = node;
  std::int32_t guard = static_cast<std::int32_t>(nodes.size()) + 1;
  std::string head;
  while (cur > 0 && guard-- > 0) {
    const Node& n = nodes[cur];
    if (n.parent < 0) {
      head = "#" + std::to_string(n.ino);
      break;
    }
    parts.push_back(Name(cur));
    cur = n.parent;
  }
  std::string out = head;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out.append("/").append(*it);
  return out.empty() ? "/" : out;
}

std::int32_t Tree::DirIndex(std::int32_t node) const {
  auto it = dir_index_of_node_.find(node);
  return it == dir_index_of_node_.end() ? -1 : it->second;
}

}  // namespace mr::salvage
