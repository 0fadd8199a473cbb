#include "salvage/tree.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace mr::salvage {

std::uint32_t NameArena::Add(std::string_view s) {
  if (s.empty()) return 0;  // Get(_, 0) never looks at the bytes
  const std::size_t at = bytes_.size();
  if (s.size() > (std::size_t{1} << 32) - at)
    throw std::length_error("salvage: more than 4 GiB of entry names");  // a bug, not damage
  bytes_.append(s.data(), s.size());
  return static_cast<std::uint32_t>(at);
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
