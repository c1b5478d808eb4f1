#include <strider/core/detail/block_cache.hpp>

namespace strider::detail {

void* BlockCache::take(std::size_t size) {
  const auto it = by_size_.find(size);
  if (it == by_size_.end()) return nullptr;
  void* p = it->second->p;
  order_.erase(it->second);
  by_size_.erase(it);
  bytes_ -= size;
  return p;
}

void BlockCache::put(void* p, std::size_t size) {
  order_.push_back(Block{p, size});
  by_size_.emplace(size, std::prev(order_.end()));
  bytes_ += size;
}

void* BlockCache::pop_oldest(std::size_t& size) {
  if (order_.empty()) return nullptr;
  const auto oldest = order_.begin();
  auto [first, last] = by_size_.equal_range(oldest->size);
  for (; first != last; ++first)
    if (first->second == oldest) break;
  by_size_.erase(first);
  void* p = oldest->p;
  size = oldest->size;
  bytes_ -= size;
  order_.erase(oldest);
  return p;
}

}  // namespace strider::detail
