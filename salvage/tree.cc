#include "salvage/tree.h"

#include <algorithm>

namespace mr::salvage {

std::string Tree::PathOf(std::int32_t node) const {
  std::vector<const std::string*> parts;
  std::int32_t cur = node;
  std::int32_t guard = static_cast<std::int32_t>(nodes.size()) + 1;
  std::string head;
  while (cur > 0 && guard-- > 0) {
    const Node& n = nodes[cur];
    if (n.parent < 0) {
      head = "#" + std::to_string(n.ino);
      break;
    }
    parts.push_back(&n.name);
    cur = n.parent;
  }
  std::string out = head;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += "/" + **it;
  return out.empty() ? "/" : out;
}

std::int32_t Tree::DirIndex(std::int32_t node) const {
  if (node < 0 || static_cast<std::size_t>(node) >= dir_index_of_node.size()) return -1;
  return dir_index_of_node[node];
}

}  // namespace mr::salvage
