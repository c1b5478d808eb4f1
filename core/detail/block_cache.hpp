// Internal: freed memory blocks kept for reuse by a DeviceBackend's caching allocator (the CPU's in
// storage.cpp, the CUDA device's in cuda/cuda_backend.cu). A block is handed out again only for a
// request of exactly its size class: a larger block would waste the difference (no splitting).
// The cache remembers the order blocks came in, so an allocator that must give memory back can
// give back the longest unused first. Not thread-safe: the owning backend holds its lock.
#pragma once

#include <cstddef>
#include <list>
#include <map>

namespace strider::detail {

class BlockCache {
 public:
  // A cached block of exactly `size` bytes, removed from the cache; nullptr when there is none.
  void* take(std::size_t size);
  // Keeps `p` (a block of `size` bytes) for reuse.
  void put(void* p, std::size_t size);
  // Removes the block cached longest ago and returns it (its size in `size`); nullptr when empty.
  void* pop_oldest(std::size_t& size);
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return order_.empty(); }

 private:
  struct Block {
    void* p;
    std::size_t size;
  };
  std::list<Block> order_;                                      // oldest first
  std::multimap<std::size_t, std::list<Block>::iterator> by_size_;
  std::size_t bytes_ = 0;
};

}  // namespace strider::detail
