// Kernel launches in the CUDA emulator: configuration checks, the schedule and thread settings, and
// the persistent pool of OS threads that runs blocks in parallel.
//
// A launch is synchronous. The launching thread and up to num_threads()-1 pool workers take blocks
// from a shared counter; each runs its blocks one after another on its own Executor (so a block's
// __shared__ variables, thread_local, belong to that block alone while it runs). Launches from
// several host threads are serialised, as on one device with one queue.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <strider/core/error.hpp>
#include <strider/kernels/emu/executor.hpp>

namespace strider::emu {
namespace detail {
namespace {

ScheduleSetting parse_schedule(std::string_view spec) {
  ScheduleSetting s;
  std::string_view kind = spec, seed;
  if (const auto colon = spec.find(':'); colon != std::string_view::npos) {
    kind = spec.substr(0, colon);
    seed = spec.substr(colon + 1);
  }
  bool ok = true;
  if (kind == "inorder" || kind == "in_order") {
    s.kind = Schedule::in_order;
  } else if (kind == "reverse" || kind == "reversed") {
    s.kind = Schedule::reverse;
  } else if (kind == "shuffle" || kind == "shuffled") {
    s.kind = Schedule::shuffle;
    s.seed = 1;
  } else {
    ok = false;
  }
  if (ok && !seed.empty()) {
    const auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), s.seed);
    ok = s.kind == Schedule::shuffle && ec == std::errc() && end == seed.data() + seed.size();
  }
  STRIDER_CHECK(ok, ValueError,
                "emulator schedule '" << spec << "' is not one of inorder, reverse, shuffle, shuffle:SEED "
                                      << "(SEED an unsigned integer)");
  return s;
}

int parse_threads(const char* text) {
  int n = 0;
  const std::string_view v(text);
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  STRIDER_CHECK(ec == std::errc() && end == v.data() + v.size() && n >= 1 && n <= 1024, ValueError,
                "STRIDER_EMU_THREADS='" << text << "' is not a thread count from 1 to 1024");
  return n;
}

class Pool;

struct Settings {
  std::mutex mutex;
  ScheduleSetting schedule;
  int threads = 1;
  Pool* pool = nullptr;
  pid_t pool_pid = 0;
};

// Read from the environment on first use. A bad value throws (and is read again next time).
Settings& settings() {
  static Settings* s = [] {
    ScheduleSetting schedule;
    if (const char* env = std::getenv("STRIDER_EMU_SCHEDULE"); env != nullptr && *env != '\0') {
      schedule = parse_schedule(env);
    }
    int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 16u));
    if (const char* env = std::getenv("STRIDER_EMU_THREADS"); env != nullptr && *env != '\0') {
      threads = parse_threads(env);
    }
    auto* created = new Settings;  // never destroyed: pool threads may outlive static destructors
    created->schedule = schedule;
    created->threads = threads;
    return created;
  }();
  return *s;
}

// One launch's blocks, shared by the threads that run them.
class BlockQueue {
 public:
  BlockQueue(const KernelJob& job, std::uint64_t blocks) : job_(job), blocks_(blocks) {}

  // Never throws: it may run on a pool thread.
  void work() {
    Executor* executor_ptr = nullptr;
    try {
      executor_ptr = &Executor::this_thread();
      executor_ptr->begin_launch(job_);
    } catch (const std::exception& e) {
      fail(next_.load(), cudaErrorLaunchOutOfResources,
           std::string("the emulator could not set up a thread for kernel `") + job_.request->kernel_name +
               "`: " + e.what());
      return;
    }
    Executor& executor = *executor_ptr;
    std::string error;
    while (!failed_.load(std::memory_order_relaxed)) {
      const std::uint64_t b = next_.fetch_add(1, std::memory_order_relaxed);
      if (b >= blocks_) break;
      cudaError_t code = cudaErrorLaunchFailure;
      try {
        code = executor.run_block(b, &error);
      } catch (const std::exception& e) {
        error = std::string("the emulator failed: ") + e.what();
      }
      if (code != cudaSuccess) fail(b, code, error);
    }
  }

  bool failed() const { return failed_.load(); }
  cudaError_t code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  // Keeps the lowest failing block's error, so the report does not depend on thread timing more than needed.
  void fail(std::uint64_t block, cudaError_t code, const std::string& message) {
    std::lock_guard lock(mutex_);
    if (block < failed_block_) {
      failed_block_ = block;
      code_ = code;
      message_ = message;
    }
    failed_.store(true);
  }

  const KernelJob& job_;
  const std::uint64_t blocks_;
  std::atomic<std::uint64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::uint64_t failed_block_ = std::numeric_limits<std::uint64_t>::max();
  cudaError_t code_ = cudaSuccess;
  std::string message_;
};

class Pool {
 public:
  explicit Pool(int workers) {
    try {
      for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker(); });
    } catch (...) {
      stop();
      throw;
    }
  }
  ~Pool() { stop(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void run(BlockQueue& queue, std::uint64_t blocks) {
    const int helpers = static_cast<int>(std::min<std::uint64_t>(threads_.size(), blocks - 1));
    if (helpers > 0) {
      {
        std::lock_guard lock(mutex_);
        queue_ = &queue;
        wanted_ = helpers;
        ++generation_;
      }
      wake_.notify_all();
    }
    queue.work();
    if (helpers > 0) {
      std::unique_lock lock(mutex_);
      queue_ = nullptr;
      wanted_ = 0;
      idle_.wait(lock, [this] { return busy_ == 0; });
    }
  }

 private:
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void worker() {
    std::uint64_t seen = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (queue_ != nullptr && wanted_ > 0 && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      --wanted_;
      BlockQueue* queue = queue_;
      ++busy_;
      lock.unlock();
      queue->work();
      lock.lock();
      if (--busy_ == 0) idle_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  BlockQueue* queue_ = nullptr;
  int wanted_ = 0, busy_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

// Serialises launches (and changes of the thread count) across host threads.
std::mutex& launch_mutex() {
  static auto* m = new std::mutex;
  return *m;
}

// The pool for the current thread count; a forked child (a death test) gets a fresh one, since the
// parent's worker threads do not exist there.
Pool& pool_locked(Settings& s) {
  if (s.pool == nullptr || s.pool_pid != getpid()) {
    s.pool = new Pool(s.threads - 1);  // a pool from before a fork is leaked: its threads are gone
    s.pool_pid = getpid();
  }
  return *s.pool;
}

cudaError_t validate(const LaunchRequest& r, std::string* why) {
  std::ostringstream os;
  os << "kernel `" << r.kernel_name << "`: ";
  const dim3 b = r.block, g = r.grid;
  const unsigned long long threads = 1ull * b.x * b.y * b.z;
  if (b.x == 0 || b.y == 0 || b.z == 0 || g.x == 0 || g.y == 0 || g.z == 0) {
    os << "grid (" << g.x << ',' << g.y << ',' << g.z << ") or block (" << b.x << ',' << b.y << ',' << b.z
       << ") has a zero dimension";
    *why = os.str();
    return cudaErrorInvalidConfiguration;
  }
  if (b.x > kMaxBlockDim[0] || b.y > kMaxBlockDim[1] || b.z > kMaxBlockDim[2] || threads > kMaxThreadsPerBlock) {
    os << "block (" << b.x << ',' << b.y << ',' << b.z << ") has " << threads
       << " threads; a block has at most 1024 threads and dimensions up to (1024, 1024, 64)";
    *why = os.str();
    return cudaErrorInvalidConfiguration;
  }
  if (g.x > kMaxGridDim[0] || g.y > kMaxGridDim[1] || g.z > kMaxGridDim[2]) {
    os << "grid (" << g.x << ',' << g.y << ',' << g.z << ") exceeds the maximum grid size (2147483647, 65535, 65535)";
    *why = os.str();
    return cudaErrorInvalidConfiguration;
  }
  const std::size_t limit = dynamic_shared_limit(r.kernel_id);
  if (r.shared_bytes > limit) {
    os << "asks for " << r.shared_bytes << " bytes of dynamic shared memory; the limit is " << limit << " bytes";
    if (limit == kSharedPerBlock && r.shared_bytes <= kSharedPerBlockOptin) {
      os << " unless the kernel opts in: cudaFuncSetAttribute(" << r.kernel_name
         << ", cudaFuncAttributeMaxDynamicSharedMemorySize, " << r.shared_bytes << ") (up to " << kSharedPerBlockOptin
         << ")";
    }
    *why = os.str();
    return cudaErrorInvalidValue;
  }
  if (!is_valid_stream(r.stream)) {
    os << "stream " << static_cast<const void*>(r.stream) << " is not a live stream";
    *why = os.str();
    return cudaErrorInvalidResourceHandle;
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t launch(const LaunchRequest& r) {
  if (current_thread() != nullptr) {
    return record_error(cudaErrorNotSupported, std::string("kernel `") + r.kernel_name +
                                                   "` launched from inside a kernel: device-side launches "
                                                   "(dynamic parallelism) are not emulated");
  }
  std::string why;
  if (const cudaError_t code = validate(r, &why); code != cudaSuccess) return record_error(code, why);

  Settings& s = settings();
  std::lock_guard launch_lock(launch_mutex());
  ScheduleSetting schedule;
  Pool* pool = nullptr;
  try {
    std::lock_guard lock(s.mutex);
    schedule = s.schedule;
    pool = &pool_locked(s);
  } catch (const std::exception& e) {  // e.g. no more OS threads
    return record_error(cudaErrorLaunchOutOfResources, std::string("the emulator could not start its threads: ") + e.what());
  }
  const KernelJob job{&r, r.block.x * r.block.y * r.block.z, schedule};
  const std::uint64_t blocks = 1ull * r.grid.x * r.grid.y * r.grid.z;
  BlockQueue queue(job, blocks);
  pool->run(queue, blocks);
  if (queue.failed()) return record_execution_error(queue.code(), queue.message());
  return cudaSuccess;
}

}  // namespace detail

void set_schedule(Schedule kind, std::uint64_t seed) {
  detail::Settings& s = detail::settings();
  std::lock_guard lock(s.mutex);
  s.schedule = ScheduleSetting{kind, seed};
}

void set_schedule(std::string_view spec) {
  const ScheduleSetting parsed = detail::parse_schedule(spec);
  set_schedule(parsed.kind, parsed.seed);
}

ScheduleSetting schedule() {
  detail::Settings& s = detail::settings();
  std::lock_guard lock(s.mutex);
  return s.schedule;
}

void set_num_threads(int n) {
  STRIDER_CHECK(n >= 1 && n <= 1024, ValueError, "emulator thread count " << n << " is not from 1 to 1024");
  detail::Settings& s = detail::settings();
  std::lock_guard launch_lock(detail::launch_mutex());
  std::lock_guard lock(s.mutex);
  if (n == s.threads) return;
  if (s.pool != nullptr && s.pool_pid == getpid()) delete s.pool;
  s.pool = nullptr;
  s.threads = n;
}

int num_threads() {
  detail::Settings& s = detail::settings();
  std::lock_guard lock(s.mutex);
  return s.threads;
}

}  // namespace strider::emu
