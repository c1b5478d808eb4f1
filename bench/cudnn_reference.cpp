// cuDNN called directly, with an explicit math mode and cuDNN's own algorithm search: the baseline
// conv_bench compares every GPU pass with (bench/bench.hpp, CudnnConvPlan).
//
// Mapping of strider's passes onto cuDNN's three operations (cuDNN's conv: x -> y with filter w):
//   conv2d            forward          cudnnConvolutionForward          x=x,      w,  y=y
//                     backward-data    cudnnConvolutionBackwardData     w, dy=grad_y   -> dx=grad_x
//                     backward-weight  cudnnConvolutionBackwardFilter   x=x, dy=grad_y -> dw
//   conv_transpose2d  forward          cudnnConvolutionBackwardData     w, dy=x        -> dx=y
//                     backward-data    cudnnConvolutionForward          x=grad_y, w   -> y=grad_x
//                     backward-weight  cudnnConvolutionBackwardFilter   x=grad_y, dy=x -> dw
// For conv_transpose2d cuDNN's "x" is strider's output (N, K, P, Q), its "y" strider's input
// (N, C, H, W), and the filter (C, K/groups, R, S) reads as cuDNN's (k = C, c = K/groups).
#include "bench.hpp"

#if STRIDER_HAS_CUDNN

#include <cudnn.h>

#include <sstream>
#include <vector>

#include <strider/core/error.hpp>

#define BENCH_CUDNN_CHECK(expr)                                                                      \
  do {                                                                                               \
    const cudnnStatus_t bench_status_ = (expr);                                                      \
    if (bench_status_ != CUDNN_STATUS_SUCCESS)                                                       \
      STRIDER_THROW(CudaError, #expr << " failed: " << cudnnGetErrorString(bench_status_) \
                                                << " at " << __FILE__ << ':' << __LINE__);           \
  } while (0)

namespace strider::bench {
namespace {

enum class Op { kForward, kBackwardData, kBackwardFilter };

Op cudnn_op(bool transposed, kernels::Conv2dPass pass) {
  using P = kernels::Conv2dPass;
  switch (pass) {
    case P::kForward: return transposed ? Op::kBackwardData : Op::kForward;
    case P::kBackwardData: return transposed ? Op::kForward : Op::kBackwardData;
    case P::kBackwardWeight: return Op::kBackwardFilter;
  }
  return Op::kForward;
}

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t created = nullptr;
    BENCH_CUDNN_CHECK(cudnnCreate(&created));
    return created;
  }();
  return h;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "DEFAULT";
    case CUDNN_TENSOR_OP_MATH: return "TENSOR_OP";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "TENSOR_OP_CONV";
    case CUDNN_FMA_MATH: return "FMA";
  }
  return "?";
}

}  // namespace

struct CudnnConvPlan::State {
  Op op = Op::kForward;
  bool swap_filter_inputs = false;  // conv_transpose2d backward-weight: strider's (x, grad_y) = cuDNN's (dy, x)
  cudaStream_t stream = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;  // cuDNN's x (conv input) and y (conv output)
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

CudnnConvPlan::CudnnConvPlan(const kernels::Conv2dProblem& p, kernels::Conv2dPass pass, CudnnMath math,
                             cudaStream_t stream, const float* in0, const float* in1, float* out)
    : s_(std::make_unique<State>()) {
  p.validate();
  State& s = *s_;
  s.op = cudnn_op(p.transposed, pass);
  s.swap_filter_inputs = p.transposed;
  s.stream = stream;
  const int P = static_cast<int>(p.P()), Q = static_cast<int>(p.Q());
  // cuDNN's view: conv input (n, ci, hi, wi) -> conv output (n, co, ho, wo), filter (co, ci/g, R, S).
  const int ci = p.transposed ? p.K : p.C, hi = p.transposed ? P : p.H, wi = p.transposed ? Q : p.W;
  const int co = p.transposed ? p.C : p.K, ho = p.transposed ? p.H : P, wo = p.transposed ? p.W : Q;
  BENCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s.x));
  BENCH_CUDNN_CHECK(cudnnCreateTensorDescriptor(&s.y));
  BENCH_CUDNN_CHECK(cudnnCreateFilterDescriptor(&s.w));
  BENCH_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&s.conv));
  BENCH_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, p.N, ci, hi, wi));
  BENCH_CUDNN_CHECK(cudnnSetTensor4dDescriptor(s.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, p.N, co, ho, wo));
  BENCH_CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(s.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, co, ci / p.groups, p.R, p.S));
  BENCH_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(s.conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h,
                                                    p.dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  BENCH_CUDNN_CHECK(cudnnSetConvolutionGroupCount(s.conv, p.groups));
  const cudnnMathType_t wanted = math == CudnnMath::kFp32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
  BENCH_CUDNN_CHECK(cudnnSetConvolutionMathType(s.conv, wanted));
  BENCH_CUDNN_CHECK(cudnnSetStream(handle(), stream));

  // The search gets a generous workspace; the chosen algorithm keeps only what it needs.
  std::size_t free_bytes = 0, total_bytes = 0;
  STRIDER_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  std::size_t search_bytes = std::min<std::size_t>(std::size_t{1} << 30, free_bytes / 4);
  void* search_ws = nullptr;
  if (cudaMalloc(&search_ws, search_bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    search_ws = nullptr;
    search_bytes = 0;
  }
  constexpr int kMaxAlgos = 16;
  int found = 0;
  struct Choice { int algo; cudnnMathType_t math; std::size_t memory; cudnnStatus_t status; };
  std::vector<Choice> choices;
  switch (s.op) {
    case Op::kForward: {
      cudnnConvolutionFwdAlgoPerf_t perf[kMaxAlgos];
      BENCH_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle(), s.x, in0, s.w, in1, s.conv, s.y, out,
                                                               kMaxAlgos, &found, perf, search_ws, search_bytes));
      for (int i = 0; i < found; ++i) choices.push_back({perf[i].algo, perf[i].mathType, perf[i].memory, perf[i].status});
      break;
    }
    case Op::kBackwardData: {
      // strider's order: (grad_y or transposed x, weight, out) -> cuDNN's (w, dy, dx).
      cudnnConvolutionBwdDataAlgoPerf_t perf[kMaxAlgos];
      BENCH_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle(), s.w, in1, s.y, in0, s.conv, s.x, out,
                                                                    kMaxAlgos, &found, perf, search_ws,
                                                                    search_bytes));
      for (int i = 0; i < found; ++i) choices.push_back({perf[i].algo, perf[i].mathType, perf[i].memory, perf[i].status});
      break;
    }
    case Op::kBackwardFilter: {
      // conv2d: (x, grad_y); conv_transpose2d: (x, grad_y) = cuDNN's (dy, x): swap.
      const float* cx = p.transposed ? in1 : in0;
      const float* cdy = p.transposed ? in0 : in1;
      cudnnConvolutionBwdFilterAlgoPerf_t perf[kMaxAlgos];
      BENCH_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle(), s.x, cx, s.y, cdy, s.conv, s.w, out,
                                                                      kMaxAlgos, &found, perf, search_ws,
                                                                      search_bytes));
      for (int i = 0; i < found; ++i) choices.push_back({perf[i].algo, perf[i].mathType, perf[i].memory, perf[i].status});
      break;
    }
  }
  if (search_ws != nullptr) STRIDER_CUDA_CHECK(cudaFree(search_ws));
  // Results come fastest first. In FP32 mode only FMA kernels qualify (a result reported with
  // DEFAULT math on an FMA descriptor is taken only when no FMA one succeeded).
  bool chosen = false;
  for (int round = 0; round < 2 && !chosen; ++round) {
    for (const Choice& c : choices) {
      if (c.status != CUDNN_STATUS_SUCCESS) continue;
      if (math == CudnnMath::kFp32 && c.math != (round == 0 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH)) continue;
      s.algo = c.algo;
      s.math = math == CudnnMath::kFp32 ? CUDNN_FMA_MATH : c.math;
      s.workspace_bytes = c.memory;
      chosen = true;
      break;
    }
  }
  STRIDER_CHECK(chosen, CudaError,
                "cuDNN's search found no usable algorithm for " << p.str() << " (" << choices.size() << " tried)");
  BENCH_CUDNN_CHECK(cudnnSetConvolutionMathType(s.conv, s.math));
  if (s.workspace_bytes > 0) STRIDER_CUDA_CHECK(cudaMalloc(&s.workspace, s.workspace_bytes));
}

CudnnConvPlan::~CudnnConvPlan() {
  if (!s_) return;
  (void)cudaFree(s_->workspace);
  (void)cudnnDestroyConvolutionDescriptor(s_->conv);
  (void)cudnnDestroyFilterDescriptor(s_->w);
  (void)cudnnDestroyTensorDescriptor(s_->y);
  (void)cudnnDestroyTensorDescriptor(s_->x);
}

void CudnnConvPlan::run(const float* in0, const float* in1, float* out) {
  State& s = *s_;
  const float one = 1.f, zero = 0.f;
  BENCH_CUDNN_CHECK(cudnnSetStream(handle(), s.stream));
  switch (s.op) {
    case Op::kForward:
      BENCH_CUDNN_CHECK(cudnnConvolutionForward(handle(), &one, s.x, in0, s.w, in1, s.conv,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(s.algo), s.workspace,
                                                s.workspace_bytes, &zero, s.y, out));
      break;
    case Op::kBackwardData:
      BENCH_CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &one, s.w, in1, s.y, in0, s.conv,
                                                     static_cast<cudnnConvolutionBwdDataAlgo_t>(s.algo),
                                                     s.workspace, s.workspace_bytes, &zero, s.x, out));
      break;
    case Op::kBackwardFilter: {
      const float* cx = s.swap_filter_inputs ? in1 : in0;
      const float* cdy = s.swap_filter_inputs ? in0 : in1;
      BENCH_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle(), &one, s.x, cx, s.y, cdy, s.conv,
                                                       static_cast<cudnnConvolutionBwdFilterAlgo_t>(s.algo),
                                                       s.workspace, s.workspace_bytes, &zero, s.w, out));
      break;
    }
  }
}

std::string CudnnConvPlan::algo_name() const {
  static const char* fwd[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                              "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* bwd_data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* bwd_filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED",
                                     "FFT_TILING"};
  std::ostringstream os;
  const State& s = *s_;
  auto pick = [&](const char* const* names, int count) { return s.algo >= 0 && s.algo < count ? names[s.algo] : "?"; };
  switch (s.op) {
    case Op::kForward: os << "fwd " << pick(fwd, 8); break;
    case Op::kBackwardData: os << "bwd_data " << pick(bwd_data, 6); break;
    case Op::kBackwardFilter: os << "bwd_filter " << pick(bwd_filter, 7); break;
  }
  os << " (" << math_name(s.math) << ")";
  return os.str();
}

}  // namespace strider::bench

#endif  // STRIDER_HAS_CUDNN
