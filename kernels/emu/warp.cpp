// Warp collectives of the CUDA emulator, and the words it uses when a block breaks a rule.
//
// A collective called by lane L with mask M completes once every lane named in M that exists and
// has not exited waits at a collective with the same operation and the same mask (CUDA: "all
// non-exited threads named in mask must execute the same intrinsic with the same mask"). Lanes
// outside M, exited lanes and lanes past the end of a partial warp do not take part; reading a
// value from one of them yields kPoison (the value is undefined on a GPU).
#include <algorithm>
#include <bit>
#include <cstring>
#include <sstream>

#include <strider/kernels/emu/executor.hpp>

namespace strider::emu::detail {
namespace {

// NaN as a float (low 32 bits) and as a double, a large odd number as an integer.
constexpr std::uint64_t kPoison = 0x7ff4dead7fa0deadull;

// Source lane of a shuffle, following PTX shfl.sync: segmask = 32 - width, clamp 31 (0 for .up),
// an out-of-range source (pval false) reads the caller's own value.
unsigned shuffle_source(WarpOp op, unsigned lane, int param, int width) {
  const int seg = (kWarpSize - width) & 31;
  const int cval = op == WarpOp::shfl_up ? 0 : 31;
  const int l = static_cast<int>(lane);
  const int max_lane = (l & seg) | (cval & ~seg);
  const int min_lane = l & seg;
  const int b = param & 31;
  int j = l;
  bool in_range = false;
  switch (op) {
    case WarpOp::shfl_idx: j = min_lane | (b & ~seg); in_range = j <= max_lane; break;
    case WarpOp::shfl_up: j = l - b; in_range = j >= max_lane; break;
    case WarpOp::shfl_down: j = l + b; in_range = j <= max_lane; break;
    case WarpOp::shfl_xor: j = l ^ b; in_range = j <= max_lane; break;
    default: break;
  }
  return static_cast<unsigned>(in_range ? j : l);
}

template <class T>
T as(std::uint64_t bits) {
  return static_cast<T>(bits);
}

}  // namespace

bool Executor::resolve_warps() {
  bool progressed = false;
  const unsigned warps = (n_ + kWarpSize - 1) / kWarpSize;
  for (unsigned w = 0; w < warps; ++w) {
    const unsigned base = w * kWarpSize;
    const unsigned lanes = std::min<unsigned>(kWarpSize, n_ - base);
    const unsigned exist = lanes == 32 ? ~0u : (1u << lanes) - 1;
    unsigned parked = 0, exited = 0;
    for (unsigned l = 0; l < lanes; ++l) {
      const ThreadState s = slots_[base + l].state;
      if (s == ThreadState::warp) parked |= 1u << l;
      if (s == ThreadState::done) exited |= 1u << l;
    }
    unsigned todo = parked;
    while (todo != 0) {
      const ThreadSlot& first = slots_[base + static_cast<unsigned>(std::countr_zero(todo))];
      if (first.warp_op == WarpOp::active) {
        // __activemask: the lanes waiting at this same call, now that no lane of the warp can run.
        unsigned group = 0;
        for (unsigned g = parked; g != 0; g &= g - 1) {
          const ThreadSlot& t = slots_[base + static_cast<unsigned>(std::countr_zero(g))];
          if (t.warp_op == WarpOp::active && same_location(t.where, first.where)) group |= g & ~(g - 1);
        }
        complete_collective(w, group);
        at_warp_ -= static_cast<unsigned>(std::popcount(group));
        parked &= ~group;
        todo &= ~group;
        progressed = true;
        continue;
      }
      const unsigned group = first.mask & exist & ~exited;
      bool complete = (group & ~parked) == 0;
      for (unsigned g = group; complete && g != 0; g &= g - 1) {
        const ThreadSlot& t = slots_[base + static_cast<unsigned>(std::countr_zero(g))];
        complete = t.mask == first.mask && t.warp_op == first.warp_op;
      }
      if (complete) {
        complete_collective(w, group);
        at_warp_ -= static_cast<unsigned>(std::popcount(group));
        parked &= ~group;
        todo &= ~group;
        progressed = true;
      } else {
        todo &= todo - 1;  // this lane waits on; a deadlock if nothing else moves
      }
    }
  }
  return progressed;
}

void Executor::complete_collective(unsigned warp, unsigned group) {
  const unsigned base = warp * kWarpSize;
  ThreadSlot* lane[32] = {};
  for (unsigned g = group; g != 0; g &= g - 1) {
    const unsigned l = static_cast<unsigned>(std::countr_zero(g));
    lane[l] = &slots_[base + l];
  }
  const WarpOp op = lane[std::countr_zero(group)]->warp_op;

  // Reductions over the group, computed once.
  unsigned ballot = 0;
  bool all_equal = true;
  std::uint64_t red = 0;
  bool first = true;
  for (unsigned g = group; g != 0; g &= g - 1) {
    const ThreadSlot& t = *lane[std::countr_zero(g)];
    if (t.value != 0) ballot |= 1u << t.linear % kWarpSize;
    if (first) {
      red = t.value;
      first = false;
      continue;
    }
    all_equal = all_equal && t.value == lane[std::countr_zero(group)]->value;
    switch (op) {
      case WarpOp::reduce_add: red = as<std::uint32_t>(red + t.value); break;
      case WarpOp::reduce_min_s:
        red = as<std::uint32_t>(std::min(as<std::int32_t>(red), as<std::int32_t>(t.value)));
        break;
      case WarpOp::reduce_min_u: red = std::min(as<std::uint32_t>(red), as<std::uint32_t>(t.value)); break;
      case WarpOp::reduce_max_s:
        red = as<std::uint32_t>(std::max(as<std::int32_t>(red), as<std::int32_t>(t.value)));
        break;
      case WarpOp::reduce_max_u: red = std::max(as<std::uint32_t>(red), as<std::uint32_t>(t.value)); break;
      case WarpOp::reduce_and: red &= t.value; break;
      case WarpOp::reduce_or: red |= t.value; break;
      case WarpOp::reduce_xor: red ^= t.value; break;
      default: break;
    }
  }

  for (unsigned g = group; g != 0; g &= g - 1) {
    const unsigned l = static_cast<unsigned>(std::countr_zero(g));
    ThreadSlot& t = *lane[l];
    switch (op) {
      case WarpOp::sync: t.warp_result = 0; break;
      case WarpOp::shfl_idx:
      case WarpOp::shfl_up:
      case WarpOp::shfl_down:
      case WarpOp::shfl_xor: {
        const unsigned src = shuffle_source(op, l, t.param, t.width);
        t.warp_result = lane[src] != nullptr ? lane[src]->value : kPoison;
        break;
      }
      case WarpOp::ballot: t.warp_result = ballot; break;
      case WarpOp::active: t.warp_result = group; break;
      case WarpOp::any: t.warp_result = ballot != 0; break;
      case WarpOp::all: t.warp_result = ballot == group; break;
      case WarpOp::match_any: {
        unsigned same = 0;
        for (unsigned h = group; h != 0; h &= h - 1) {
          const unsigned m = static_cast<unsigned>(std::countr_zero(h));
          if (lane[m]->value == t.value) same |= 1u << m;
        }
        t.warp_result = same;
        break;
      }
      case WarpOp::match_all:
        t.warp_result = all_equal ? t.mask : 0;
        t.warp_flag = all_equal;
        break;
      default: t.warp_result = red; break;
    }
    t.state = ThreadState::ready;
    runnable_.push_back(base + l);
  }
}

// --- messages ---

std::string describe_location(const std::source_location& where) {
  std::ostringstream os;
  os << where.file_name() << ':' << where.line();
  return os.str();
}

const char* barrier_op_name(BarrierOp op) {
  switch (op) {
    case BarrierOp::sync: return "__syncthreads";
    case BarrierOp::count: return "__syncthreads_count";
    case BarrierOp::all: return "__syncthreads_and";
    case BarrierOp::any: return "__syncthreads_or";
  }
  return "?";
}

const char* warp_op_name(WarpOp op) {
  switch (op) {
    case WarpOp::sync: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::match_any: return "__match_any_sync";
    case WarpOp::match_all: return "__match_all_sync";
    case WarpOp::reduce_add: return "__reduce_add_sync";
    case WarpOp::reduce_min_s:
    case WarpOp::reduce_min_u: return "__reduce_min_sync";
    case WarpOp::reduce_max_s:
    case WarpOp::reduce_max_u: return "__reduce_max_sync";
    case WarpOp::reduce_and: return "__reduce_and_sync";
    case WarpOp::reduce_or: return "__reduce_or_sync";
    case WarpOp::reduce_xor: return "__reduce_xor_sync";
    case WarpOp::active: return "__activemask";
  }
  return "?";
}

std::string Executor::describe_wait(const ThreadSlot& t) const {
  std::ostringstream os;
  switch (t.state) {
    case ThreadState::done: os << "exited"; break;
    case ThreadState::ready: os << "not yet at a barrier"; break;
    case ThreadState::barrier: os << "wait at " << barrier_op_name(t.barrier_op) << " (" << describe_location(t.where) << ')'; break;
    case ThreadState::warp:
      os << "wait at " << warp_op_name(t.warp_op) << " with mask 0x" << std::hex << t.mask << std::dec << " ("
         << describe_location(t.where) << ')';
      break;
  }
  return os.str();
}

// One line per run of consecutive threads doing the same thing, e.g.
//   threads 0-15: wait at __syncthreads (reduce.cu:41)
std::string Executor::describe_threads() const {
  std::ostringstream os;
  const dim3 b = job_->request->block;
  if (b.y > 1 || b.z > 1) os << "  (thread numbers are linear: x + y*" << b.x << " + z*" << b.x * b.y << ")\n";
  unsigned lines = 0;
  for (unsigned i = 0; i < n_;) {
    const std::string what = describe_wait(slots_[i]);
    unsigned j = i + 1;
    while (j < n_ && describe_wait(slots_[j]) == what) ++j;
    if (++lines > 16) {
      os << "  ...\n";
      break;
    }
    os << "  " << (j - i == 1 ? "thread " : "threads ") << i;
    if (j - i > 1) os << '-' << j - 1;
    if (b.y > 1 || b.z > 1) {
      const ThreadSlot& t = slots_[i];
      os << " (from (" << t.tid.x << ',' << t.tid.y << ',' << t.tid.z << "))";
    }
    os << ": " << what << '\n';
    i = j;
  }
  std::string text = os.str();
  if (!text.empty()) text.pop_back();
  return text;
}

}  // namespace strider::emu::detail
