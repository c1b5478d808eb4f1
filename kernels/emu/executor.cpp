// Fibers and the block loop of the CUDA emulator (see executor.hpp for the design).
#include <strider/kernels/emu/executor.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <numeric>
#include <sstream>

#include <strider/core/error.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define STRIDER_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRIDER_EMU_ASAN 1
#endif
#endif
#if defined(STRIDER_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

// The built-in variables (declared in device.hpp).
thread_local constinit uint3 threadIdx{0, 0, 0};
thread_local constinit uint3 blockIdx{0, 0, 0};
thread_local constinit dim3 blockDim{1, 1, 1};
thread_local constinit dim3 gridDim{1, 1, 1};
extern const int warpSize = 32;

void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

namespace strider::emu::detail {
namespace {

thread_local ThreadSlot* tls_current = nullptr;

// AddressSanitizer must be told about every stack switch, or it mistakes the fiber stacks for
// stack overflows and reports false errors when an exception unwinds a fiber.
void asan_start_switch(void** fake_stack, const void* bottom, std::size_t size) {
#if defined(STRIDER_EMU_ASAN)
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#else
  (void)fake_stack, (void)bottom, (void)size;
#endif
}
void asan_finish_switch(void* fake_stack, const void** bottom_old, std::size_t* size_old) {
#if defined(STRIDER_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, bottom_old, size_old);
#else
  (void)fake_stack, (void)bottom_old, (void)size_old;
#endif
}

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Per-fiber stack: 256 KiB of address space (pages are committed only when touched), or
// STRIDER_EMU_STACK_KB. Kernel threads need little; the margin is for sanitizer builds.
std::size_t fiber_stack_size() {
  static const std::size_t size = [] {
    std::size_t kib = 256;
    if (const char* env = std::getenv("STRIDER_EMU_STACK_KB")) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(env, &end, 10);
      STRIDER_CHECK(end != env && *end == '\0' && v >= 16 && v <= (1u << 20), ValueError,
                    "STRIDER_EMU_STACK_KB='" << env << "' is not a stack size in KiB between 16 and 1048576");
      kib = static_cast<std::size_t>(v);
    }
    const std::size_t bytes = kib * 1024;
    return (bytes + page_size() - 1) / page_size() * page_size();
  }();
  return size;
}

// mmap'd stacks with a PROT_NONE guard page below, so an overflow faults instead of corrupting
// the neighbouring fiber. Records the usable range in the Fiber for the ASan annotations.
// The stack tops are staggered by a multiple of 256 bytes (Boost aligns its record to 256): with
// every top at the same page offset, the hot top-of-stack lines of all fibers would compete for the
// same few cache sets.
struct GuardedStack {
  Fiber* fiber;
  std::size_t index;

  boost::context::stack_context allocate() {
    const std::size_t page = page_size(), size = fiber_stack_size();
    const std::size_t colors = std::min<std::size_t>(64, size / 4096);
    const std::size_t color = index * 37 % colors * 256;
    void* base = mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    if (mprotect(base, page, PROT_NONE) != 0) {
      munmap(base, size + page);
      throw std::bad_alloc();
    }
    fiber->stack_bottom = static_cast<char*>(base) + page;
    fiber->stack_size = size - color;
    boost::context::stack_context sctx;
    sctx.size = size - color;
    sctx.sp = static_cast<char*>(base) + page + size - color;
    return sctx;
  }
  void deallocate(boost::context::stack_context& sctx) noexcept {
    munmap(static_cast<char*>(sctx.sp) - sctx.size - page_size(), fiber_stack_size() + page_size());
  }
};

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

ThreadSlot* current_thread() { return tls_current; }

Executor& Executor::this_thread() {
  thread_local Executor executor;
  return executor;
}

Executor::Executor()
    : slots_(new ThreadSlot[kMaxThreadsPerBlock]), fibers_(new Fiber[kMaxThreadsPerBlock]) {
  free_.reserve(kMaxThreadsPerBlock);
  runnable_.reserve(kMaxThreadsPerBlock);
}

Executor::~Executor() {
  // Let every fiber leave its loop and return, so boost::context frees its stack. All are free:
  // blocks always finish (or are abandoned) before a launch returns.
  for (unsigned i = 0; i < created_; ++i) {
    Fiber& f = fibers_[i];
    f.quit = true;
    void* fake_stack = nullptr;
    asan_start_switch(&fake_stack, f.stack_bottom, f.stack_size);
    f.context = std::move(f.context).resume();
    asan_finish_switch(fake_stack, nullptr, nullptr);
  }
}

void Executor::SharedDeleter::operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{128}); }

Fiber& Executor::free_fiber() {
  if (!free_.empty()) {
    Fiber* f = free_.back();
    free_.pop_back();
    return *f;
  }
  Fiber& f = fibers_[created_];
  f.owner = this;
  f.context = boost::context::fiber(std::allocator_arg, GuardedStack{&f, created_},
                                    [&f](boost::context::fiber&& scheduler) {
                                      return f.owner->fiber_main(f, std::move(scheduler));
                                    });
  ++created_;
  return f;
}

boost::context::fiber Executor::fiber_main(Fiber& f, boost::context::fiber&& scheduler) {
  asan_finish_switch(nullptr, &scheduler_stack_bottom_, &scheduler_stack_size_);
  f.scheduler = std::move(scheduler);
  while (!f.quit) {
    ThreadSlot& t = *f.thread;
    if (!t.abort) run_thread(t);
    t.state = ThreadState::done;
    yield(f);
  }
  asan_start_switch(nullptr, scheduler_stack_bottom_, scheduler_stack_size_);  // this fiber ends
  return std::move(f.scheduler);
}

void Executor::run_thread(ThreadSlot& t) {
  // Kept small: this frame stays on every fiber's stack, and stack bytes are cache misses.
  try {
    job_->request->run_thread(job_->request->args);
  } catch (const BlockAbort&) {
  } catch (const boost::context::detail::forced_unwind&) {
    throw;  // boost::context unwinding a fiber: must pass through
  } catch (...) {
    record_exception(t, std::current_exception());
  }
}

void Executor::record_exception(ThreadSlot& t, std::exception_ptr e) {
  std::string what = "threw an exception that is not a std::exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = std::string("threw an exception: ") + ex.what();
  } catch (...) {
  }
  if (error_.empty()) {
    std::ostringstream os;
    os << block_prefix() << "thread " << t.linear << " (" << t.tid.x << ',' << t.tid.y << ',' << t.tid.z << ") " << what;
    error_ = os.str();
  }
}

inline void Executor::yield(Fiber& f) {
  asan_start_switch(&f.asan_fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
  f.scheduler = std::move(f.scheduler).resume();
  asan_finish_switch(f.asan_fake_stack, nullptr, nullptr);
}

void Executor::park(ThreadSlot& t) {
  yield(*t.fiber);
  if (t.abort) throw BlockAbort{};
}

void Executor::fail(ThreadSlot& t, const std::string& message) {
  if (error_.empty()) {
    std::ostringstream os;
    os << block_prefix() << "thread " << t.linear << " (" << t.tid.x << ',' << t.tid.y << ',' << t.tid.z << ") "
       << message;
    error_ = os.str();
  }
  throw BlockAbort{};
}

// Runs thread t until it parks or exits: on its own fiber if it has started, else on a free one.
inline void Executor::resume(ThreadSlot& t) {
  Fiber* f = t.fiber;
  if (f == nullptr) {
    f = &free_fiber();
    f->thread = &t;
    t.fiber = f;
  }
  threadIdx = t.tid;
  tls_current = &t;
  void* fake_stack = nullptr;
  asan_start_switch(&fake_stack, f->stack_bottom, f->stack_size);
  f->context = std::move(f->context).resume();
  asan_finish_switch(fake_stack, nullptr, nullptr);
  tls_current = nullptr;
  if (t.state == ThreadState::done) {
    t.fiber = nullptr;
    f->thread = nullptr;
    free_.push_back(f);
  }
}

void Executor::begin_launch(const KernelJob& job) {
  job_ = &job;
  blockDim = job.request->block;
  gridDim = job.request->grid;
  const dim3 b = job.request->block;
  for (unsigned i = 0; i < job.threads_per_block; ++i) {
    slots_[i].tid = uint3{i % b.x, i / b.x % b.y, i / (b.x * b.y)};
    slots_[i].linear = i;
  }
  const std::size_t bytes = job.request->shared_bytes;
  if (bytes != shared_size_) {
    // Exactly the requested size, so AddressSanitizer flags the first byte past it.
    shared_.reset(bytes == 0 ? nullptr : static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{128})));
    shared_size_ = bytes;
  }
}

std::string Executor::block_prefix() const {
  const LaunchRequest& r = *job_->request;
  std::ostringstream os;
  os << "kernel `" << r.kernel_name << "` (grid (" << r.grid.x << ',' << r.grid.y << ',' << r.grid.z << "), block ("
     << r.block.x << ',' << r.block.y << ',' << r.block.z << ")), block (" << blockIdx.x << ',' << blockIdx.y << ','
     << blockIdx.z << "): ";
  return os.str();
}

void Executor::order(std::uint64_t block, std::uint64_t step, bool sorted) {
  const ScheduleSetting& s = job_->schedule;
  if (!sorted) std::sort(runnable_.begin(), runnable_.end());
  if (s.kind == Schedule::reverse) {
    std::reverse(runnable_.begin(), runnable_.end());
  } else if (s.kind == Schedule::shuffle) {
    std::uint64_t state = s.seed ^ (block * 0xd1b54a32d192ed03ull) ^ (step * 0x8cb92ba72f3d8dd7ull);
    for (std::size_t i = runnable_.size(); i > 1; --i) {
      std::swap(runnable_[i - 1], runnable_[splitmix64(state) % i]);
    }
  }
}

cudaError_t Executor::run_block(std::uint64_t block, std::string* error) {
  const LaunchRequest& r = *job_->request;
  const std::uint64_t gx = r.grid.x, gy = r.grid.y;
  blockIdx = uint3{static_cast<unsigned>(block % gx), static_cast<unsigned>(block / gx % gy),
                   static_cast<unsigned>(block / (gx * gy))};
  n_ = job_->threads_per_block;
  if (shared_size_ > 0) std::memset(shared_.get(), 0xff, shared_size_);  // uninitialised: NaN floats
  for (unsigned i = 0; i < n_; ++i) {
    slots_[i].state = ThreadState::ready;
    slots_[i].abort = false;
  }
  done_ = at_barrier_ = at_warp_ = 0;
  barrier_mismatch_ = false;
  error_.clear();
  runnable_.resize(n_);
  std::iota(runnable_.begin(), runnable_.end(), 0u);
  bool sorted = true;
  std::source_location barrier_where;

  cudaError_t code = cudaErrorLaunchFailure;
  for (std::uint64_t step = 0;; ++step) {
    order(block, step, sorted);
    for (const std::uint32_t i : runnable_) {
      ThreadSlot& t = slots_[i];
      try {
        resume(t);
      } catch (const std::exception& e) {  // no fiber for a thread that has not started
        error_ = block_prefix() + "the emulator could not create a fiber for thread " + std::to_string(i) + ": " +
                 e.what() + " (set STRIDER_EMU_STACK_KB lower, or use fewer STRIDER_EMU_THREADS)";
        code = cudaErrorLaunchOutOfResources;
        break;
      }
      if (t.state == ThreadState::done) {
        ++done_;
      } else if (t.state == ThreadState::barrier) {
        if (at_barrier_++ == 0) {
          barrier_where = t.where;
        } else if (!same_location(barrier_where, t.where)) {
          barrier_mismatch_ = true;
        }
      } else {
        ++at_warp_;
      }
      if (!error_.empty()) break;
    }
    runnable_.clear();
    if (error_.empty()) {
      if (at_warp_ > 0 && resolve_warps()) {
        sorted = false;
        continue;
      }
      if (done_ == n_) return cudaSuccess;
      if (at_warp_ == 0 && release_barrier()) {
        sorted = true;
        continue;
      }
      if (error_.empty()) {
        error_ = block_prefix() +
                 "deadlock: no thread can continue (a warp collective names a lane that waits elsewhere or "
                 "exited):\n" +
                 describe_threads();
      }
    }
    *error = error_;
    abandon_block();
    return code;
  }
}

bool Executor::release_barrier() {
  if (done_ > 0) {
    error_ = block_prefix() +
             "threads exited while others wait at a barrier (a GPU before Volta hangs; later ones let the "
             "survivors pass, but the early exit usually means the barrier does not sync the data it "
             "guards):\n" +
             describe_threads();
    return false;
  }
  if (barrier_mismatch_) {
    error_ = block_prefix() +
             "threads wait at different barriers (every thread of a block must reach the same "
             "__syncthreads; one inside a branch that not all threads take is undefined behaviour):\n" +
             describe_threads();
    return false;
  }
  int count = 0;
  for (unsigned i = 0; i < n_; ++i) count += slots_[i].predicate != 0;
  int result = 0;
  switch (slots_[0].barrier_op) {
    case BarrierOp::sync: break;
    case BarrierOp::count: result = count; break;
    case BarrierOp::all: result = count == static_cast<int>(n_); break;
    case BarrierOp::any: result = count > 0; break;
  }
  for (unsigned i = 0; i < n_; ++i) {
    slots_[i].barrier_result = result;
    slots_[i].state = ThreadState::ready;
    runnable_.push_back(i);
  }
  at_barrier_ = 0;
  return true;
}

void Executor::abandon_block() {
  for (unsigned i = 0; i < n_; ++i) {
    ThreadSlot& t = slots_[i];
    t.abort = true;
    if (t.fiber == nullptr) {
      t.state = ThreadState::done;  // never started
    }
    while (t.state != ThreadState::done) resume(t);  // throws BlockAbort out of the parked intrinsic
  }
}

// --- the intrinsics' entry points ---

namespace {
[[noreturn]] __attribute__((noinline)) void outside_kernel(const char* what, const std::source_location& where) {
  STRIDER_THROW(CudaError, what << " called outside an emulated kernel at " << describe_location(where)
                                << ": device intrinsics only work inside a kernel launched with STRIDER_LAUNCH");
}
inline ThreadSlot& thread_or_throw(const std::source_location& where, const char* (*name)(WarpOp), WarpOp op) {
  ThreadSlot* t = tls_current;
  if (t == nullptr) [[unlikely]] outside_kernel(name(op), where);
  return *t;
}
inline ThreadSlot& thread_or_throw(const std::source_location& where, const char* (*name)(BarrierOp), BarrierOp op) {
  ThreadSlot* t = tls_current;
  if (t == nullptr) [[unlikely]] outside_kernel(name(op), where);
  return *t;
}
}  // namespace

int block_barrier(BarrierOp op, int predicate, const std::source_location& where) {
  ThreadSlot& t = thread_or_throw(where, barrier_op_name, op);
  t.state = ThreadState::barrier;
  t.barrier_op = op;
  t.predicate = predicate;
  t.where = where;
  t.fiber->owner->park(t);
  return t.barrier_result;
}

std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int param, int width,
                              const std::source_location& where, int* all_equal) {
  ThreadSlot& t = thread_or_throw(where, warp_op_name, op);
  const unsigned lane = t.linear % kWarpSize;
  if (((mask >> lane) & 1u) == 0) {
    std::ostringstream os;
    os << "(lane " << lane << ") calls " << warp_op_name(op) << " at " << describe_location(where) << " with mask 0x"
       << std::hex << mask << ", which does not name its own lane";
    t.fiber->owner->fail(t, os.str());
  }
  if (width < 1 || width > kWarpSize || (width & (width - 1)) != 0) {
    std::ostringstream os;
    os << "calls " << warp_op_name(op) << " at " << describe_location(where) << " with width " << width
       << "; width must be a power of 2 from 1 to 32";
    t.fiber->owner->fail(t, os.str());
  }
  t.state = ThreadState::warp;
  t.warp_op = op;
  t.mask = mask;
  t.value = value;
  t.param = param;
  t.width = width;
  t.where = where;
  t.fiber->owner->park(t);
  if (all_equal != nullptr) *all_equal = t.warp_flag;
  return t.warp_result;
}

unsigned active_mask(const std::source_location& where) {
  ThreadSlot& t = thread_or_throw(where, warp_op_name, WarpOp::active);
  return static_cast<unsigned>(warp_collective(WarpOp::active, 1u << (t.linear % kWarpSize), 0, 0, kWarpSize, where));
}

void trap(const char* what, const std::source_location& where) {
  ThreadSlot* tp = tls_current;
  if (tp == nullptr) outside_kernel(what, where);
  ThreadSlot& t = *tp;
  t.fiber->owner->fail(t, std::string("called ") + what + " at " + describe_location(where));
}

void* dynamic_shared_memory() {
  ThreadSlot* t = tls_current;
  return t == nullptr ? nullptr : t->fiber->owner->dynamic_shared();
}

long long clock_ticks() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace strider::emu::detail
