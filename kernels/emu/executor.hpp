// The block executor: runs one thread block's threads as fibers on the calling OS thread.
// Internal to kernels/emu (executor.cpp: fibers and the block loop; warp.cpp: warp collectives
// and the messages for broken rules).
//
// Each OS thread that runs blocks owns one Executor with a pool of persistent fibers (created on
// first need, each on its own mmap'd stack with a guard page). A fiber runs the kernel for one
// thread, parks at every barrier or warp collective, and once the kernel returns it is free to run
// the next thread: fibers and stacks are reused, never re-created, so a thread costs a few context
// switches, and threads that never park share one cache-hot stack.
//
// The block loop works in passes. A pass resumes every runnable thread once (in the schedule's
// order); each runs until it parks or exits. Then, in this order:
//   - warp collectives whose named lanes have all arrived complete, and their lanes run next pass;
//   - when every live thread waits at a __syncthreads, the barrier is checked (same call site, no
//     thread exited meanwhile) and released;
//   - when every thread has exited, the block is done;
//   - anything else is a deadlock (e.g. a shuffle naming a lane that waits at __syncthreads).
// A broken rule unwinds every parked thread (a BlockAbort exception thrown out of its intrinsic)
// and fails the launch with a message naming the block and threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include <boost/context/fiber.hpp>

#include <strider/kernels/emu/internal.hpp>

namespace strider::emu::detail {

enum class ThreadState : std::uint8_t { ready, barrier, warp, done };

// Thrown out of a parked intrinsic when the block is abandoned; caught where the fiber calls the kernel.
struct BlockAbort {};

class Executor;
struct Fiber;

// One emulated thread of the current block: where it is and what it waits at. The fields the
// block loop reads after every switch come first.
struct alignas(64) ThreadSlot {
  Fiber* fiber = nullptr;  // the fiber running this thread; null before it starts and after it exits
  ThreadState state = ThreadState::ready;
  bool abort = false;
  BarrierOp barrier_op = BarrierOp::sync;
  WarpOp warp_op = WarpOp::sync;
  uint3 tid{};
  unsigned linear = 0;
  std::source_location where;  // the barrier or collective it waits at
  int predicate = 0;
  int barrier_result = 0;
  unsigned mask = 0;
  int param = 0;
  int width = 32;
  int warp_flag = 0;
  std::uint64_t value = 0;
  std::uint64_t warp_result = 0;
};

// A persistent fiber with its own stack. It runs one thread at a time; when that thread exits
// the fiber is free for the next one, so a kernel without barriers runs all of a block's threads
// on one (cache-hot) stack, and one with a barrier needs as many fibers as the block has threads.
struct Fiber {
  boost::context::fiber context;    // this fiber, while suspended
  boost::context::fiber scheduler;  // the executor's loop, while this fiber runs
  Executor* owner = nullptr;
  ThreadSlot* thread = nullptr;  // the thread it runs now
  bool quit = false;
  void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

class Executor {
 public:
  static Executor& this_thread();
  Executor();
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void begin_launch(const KernelJob& job);
  // Runs block `block` (linear index) of the current launch. On failure (a broken rule, no memory
  // for fibers) returns the launch's error code, with the explanation in *error.
  cudaError_t run_block(std::uint64_t block, std::string* error);

  // Fiber side (called by the intrinsics of the thread that runs now).
  void park(ThreadSlot& t);  // back to the block loop; throws BlockAbort if the block is abandoned
  [[noreturn]] void fail(ThreadSlot& t, const std::string& message);
  void* dynamic_shared() const { return shared_.get(); }
  boost::context::fiber fiber_main(Fiber& f, boost::context::fiber&& scheduler);

 private:
  struct SharedDeleter {
    void operator()(std::byte* p) const;
  };

  Fiber& free_fiber();
  void resume(ThreadSlot& t);
  void yield(Fiber& f);
  void run_thread(ThreadSlot& t);
  void record_exception(ThreadSlot& t, std::exception_ptr e);
  void order(std::uint64_t block, std::uint64_t step, bool sorted);
  bool release_barrier();
  void abandon_block();
  std::string block_prefix() const;

  // warp.cpp
  bool resolve_warps();
  void complete_collective(unsigned warp, unsigned group);
  std::string describe_threads() const;
  std::string describe_wait(const ThreadSlot& t) const;

  std::unique_ptr<ThreadSlot[]> slots_;  // kMaxThreadsPerBlock
  std::unique_ptr<Fiber[]> fibers_;      // kMaxThreadsPerBlock, created on demand
  unsigned created_ = 0;
  std::vector<Fiber*> free_;  // created fibers without a thread, most recently used last
  const KernelJob* job_ = nullptr;
  unsigned n_ = 0;  // threads in the current block
  std::vector<std::uint32_t> runnable_;
  unsigned done_ = 0, at_barrier_ = 0, at_warp_ = 0;
  bool barrier_mismatch_ = false;
  std::string error_;  // the first broken rule of the current block
  std::unique_ptr<std::byte[], SharedDeleter> shared_;
  std::size_t shared_size_ = 0;
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_size_ = 0;
};

// The emulated thread running on this OS thread, or null outside a kernel.
ThreadSlot* current_thread();
std::string describe_location(const std::source_location& where);
inline bool same_location(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}
const char* barrier_op_name(BarrierOp op);
const char* warp_op_name(WarpOp op);

}  // namespace strider::emu::detail
