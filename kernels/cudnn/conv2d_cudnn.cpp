// cudnn:: conv2d / conv_transpose2d (kernels/conv2d.hpp) through cuDNN 9's legacy
// cudnnConvolution* API: a second opinion for tests and a baseline for benchmarks, never the only
// way an op runs. Compiled only in real CUDA builds with cuDNN (STRIDER_HAS_CUDNN).
//
// The passes map onto cuDNN's three calls through the lowered convolution (Conv2dLowered):
//   lowered forward          cudnnConvolutionForward        (+ cudnnAddTensor for the bias)
//   lowered backward-data    cudnnConvolutionBackwardData   (+ cudnnAddTensor, transposed bias)
//   lowered backward-weight  cudnnConvolutionBackwardFilter (+ cudnnConvolutionBackwardBias)
// cuDNN derives the output size of the lowered convolution from its input by the floor formula,
// so a conv_transpose2d whose output_padding is >= its stride (legal when it is below the
// dilation) has no cuDNN equivalent: that one problem throws ValueError here.
//
// Per (host thread, device): one cudnnHandle_t, one workspace buffer that only grows, and a cache
// from (lowered operation, geometry) to the algorithm cudnnFind*Algorithm measured fastest (first
// use of a geometry pays for the search). Math is CUDNN_FMA_MATH: no TF32 tensor cores, so results
// are float32-accurate like the other backends.
#include <strider/kernels/conv2d.hpp>

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <utility>

#include <cudnn.h>

#include <strider/core/error.hpp>
#include <strider/kernels/cuda_runtime.hpp>

namespace strider::kernels::cudnn {
namespace {

void cudnn_check_failed(cudnnStatus_t status, const char* expr, const char* file, int line) {
  STRIDER_THROW(CudaError, expr << " failed: " << cudnnGetErrorString(status) << " (cuDNN status "
                                << static_cast<int>(status) << ") at " << file << ':' << line);
}

#define STRIDER_CUDNN_CHECK(expr)                                                      \
  do {                                                                                 \
    const cudnnStatus_t strider_cudnn_status_ = (expr);                                \
    if (strider_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                 \
      cudnn_check_failed(strider_cudnn_status_, #expr, __FILE__, __LINE__);            \
  } while (0)

enum class Op { kForward, kBackwardData, kBackwardWeight };

// Everything that determines cuDNN's algorithm choice.
using Key = std::array<int, 17>;
Key make_key(Op op, const Conv2dLowered& l) {
  return {static_cast<int>(op), l.N, l.Ci, l.Hi, l.Wi, l.Co, l.Ho, l.Wo, l.R, l.S, l.stride_h, l.stride_w,
          l.pad_h, l.pad_w, l.dil_h, l.dil_w, l.groups};
}

struct Algo {
  int algo = 0;            // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  std::size_t workspace = 0;
};

struct DeviceState {
  cudnnHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  std::map<Key, Algo> algos;

  DeviceState() = default;
  DeviceState(const DeviceState&) = delete;
  DeviceState& operator=(const DeviceState&) = delete;
  ~DeviceState() {
    if (workspace) (void)cudaFree(workspace);
    if (handle) (void)cudnnDestroy(handle);
  }
  void* reserve(std::size_t bytes) {
    if (bytes > workspace_bytes) {
      if (workspace) STRIDER_CUDA_CHECK(cudaFree(workspace));
      workspace = nullptr;
      workspace_bytes = 0;
      STRIDER_CUDA_CHECK(cudaMalloc(&workspace, bytes));
      workspace_bytes = bytes;
    }
    return workspace;
  }
};

// The calling thread's states, one per device.
std::map<int, DeviceState>& thread_states() {
  thread_local std::map<int, DeviceState> states;
  return states;
}

// The calling thread's state for the current device (created on first use), bound to `stream`.
DeviceState& state(cudaStream_t stream) {
  int device = 0;
  STRIDER_CUDA_CHECK(cudaGetDevice(&device));
  DeviceState& s = thread_states()[device];
  if (!s.handle) STRIDER_CUDNN_CHECK(cudnnCreate(&s.handle));
  STRIDER_CUDNN_CHECK(cudnnSetStream(s.handle, stream));
  return s;
}

// RAII descriptors of the lowered convolution: xc (N, Ci, Hi, Wi), yc (N, Co, Ho, Wo), the filter
// (Co, Ci/g, R, S), the convolution, and per-channel bias shapes (1, C, 1, 1).
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias_x = nullptr, bias_y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors() {
    STRIDER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    STRIDER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    STRIDER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_x));
    STRIDER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_y));
    STRIDER_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    STRIDER_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
  }
  // Separate from the constructor so that a failure here still runs the destructor. Checks that
  // cuDNN's output size for the lowered input is the lowered output size.
  void describe(const Conv2dLowered& l) {
    STRIDER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, l.N, l.Ci, l.Hi, l.Wi));
    STRIDER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, l.N, l.Co, l.Ho, l.Wo));
    STRIDER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, l.Ci, 1, 1));
    STRIDER_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, l.Co, 1, 1));
    STRIDER_CUDNN_CHECK(
        cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, l.Co, l.Ci / l.groups, l.R, l.S));
    STRIDER_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, l.pad_h, l.pad_w, l.stride_h, l.stride_w, l.dil_h,
                                                        l.dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    STRIDER_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, l.groups));
    STRIDER_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
    int n = 0, c = 0, h = 0, wd = 0;
    STRIDER_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &c, &h, &wd));
    STRIDER_CHECK(h == l.Ho && wd == l.Wo, ValueError,
                  "cudnn::conv_transpose2d: this problem needs output_padding >= stride, which cuDNN cannot "
                  "express: cuDNN's convolution of the "
                      << l.Hi << "x" << l.Wi << " output gives " << h << "x" << wd << ", not the " << l.Ho << "x"
                      << l.Wo << " input: fixes: run it on the cuda or cpu backend, or use output_padding < stride");
  }
  ~Descriptors() {
    (void)cudnnDestroyConvolutionDescriptor(conv);
    (void)cudnnDestroyFilterDescriptor(w);
    (void)cudnnDestroyTensorDescriptor(bias_y);
    (void)cudnnDestroyTensorDescriptor(bias_x);
    (void)cudnnDestroyTensorDescriptor(y);
    (void)cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

// The first successful result of a cudnnFind*Algorithm call (they come sorted by time).
template <class Perf>
Algo best(const Perf* perf, int returned, const char* what) {
  for (int i = 0; i < returned; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS) return {static_cast<int>(perf[i].algo), perf[i].memory};
  }
  STRIDER_THROW(CudaError, "cuDNN found no working " << what << " algorithm for this problem");
}

Algo find_algo(DeviceState& s, Op op, const Conv2dLowered& l, const Descriptors& d) {
  const Key key = make_key(op, l);
  if (auto it = s.algos.find(key); it != s.algos.end()) return it->second;
  Algo a;
  int returned = 0;
  if (op == Op::kForward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    STRIDER_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(s.handle, d.x, d.w, d.conv, d.y,
                                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    a = best(perf, returned, "forward");
  } else if (op == Op::kBackwardData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    STRIDER_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(
        s.handle, d.w, d.y, d.conv, d.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
    a = best(perf, returned, "backward-data");
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    STRIDER_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
        s.handle, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf));
    a = best(perf, returned, "backward-filter");
  }
  s.algos.emplace(key, a);
  return a;
}

const float kOne = 1.0f, kZero = 0.0f;

// yc = conv(xc, w) (+ bias over Co)
void lowered_forward(const Conv2dLowered& l, const float* xc, const float* w, const float* bias, float* yc,
                     cudaStream_t stream) {
  if (l.N == 0) return;
  DeviceState& s = state(stream);
  Descriptors d;
  d.describe(l);
  const Algo a = find_algo(s, Op::kForward, l, d);
  void* ws = s.reserve(a.workspace);
  STRIDER_CUDNN_CHECK(cudnnConvolutionForward(s.handle, &kOne, d.x, xc, d.w, w, d.conv,
                                              static_cast<cudnnConvolutionFwdAlgo_t>(a.algo), ws, a.workspace,
                                              &kZero, d.y, yc));
  if (bias) STRIDER_CUDNN_CHECK(cudnnAddTensor(s.handle, &kOne, d.bias_y, bias, &kOne, d.y, yc));
}

// gxc = conv^T(gyc, w) (+ bias over Ci)
void lowered_backward_data(const Conv2dLowered& l, const float* gyc, const float* w, const float* bias, float* gxc,
                           cudaStream_t stream) {
  if (l.N == 0) return;
  DeviceState& s = state(stream);
  Descriptors d;
  d.describe(l);
  const Algo a = find_algo(s, Op::kBackwardData, l, d);
  void* ws = s.reserve(a.workspace);
  STRIDER_CUDNN_CHECK(cudnnConvolutionBackwardData(s.handle, &kOne, d.w, w, d.y, gyc, d.conv,
                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), ws,
                                                   a.workspace, &kZero, d.x, gxc));
  if (bias) STRIDER_CUDNN_CHECK(cudnnAddTensor(s.handle, &kOne, d.bias_x, bias, &kOne, d.x, gxc));
}

// gw = sum xc (x) gyc
void lowered_backward_weight(const Conv2dLowered& l, const float* xc, const float* gyc, float* gw,
                             cudaStream_t stream) {
  if (l.N == 0) {
    const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(l.Co) * (l.Ci / l.groups) * l.R * l.S;
    STRIDER_CUDA_CHECK(cudaMemsetAsync(gw, 0, bytes, stream));
    return;
  }
  DeviceState& s = state(stream);
  Descriptors d;
  d.describe(l);
  const Algo a = find_algo(s, Op::kBackwardWeight, l, d);
  void* ws = s.reserve(a.workspace);
  STRIDER_CUDNN_CHECK(cudnnConvolutionBackwardFilter(s.handle, &kOne, d.x, xc, d.y, gyc, d.conv,
                                                     static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), ws,
                                                     a.workspace, &kZero, d.w, gw));
}

// grad_bias[k] = sum of grad_y over (n, p, q); grad_y is (N, K, P, Q).
void bias_grad(const Conv2dProblem& p, const float* grad_y, float* grad_bias, cudaStream_t stream) {
  if (p.N == 0) {
    STRIDER_CUDA_CHECK(cudaMemsetAsync(grad_bias, 0, sizeof(float) * static_cast<std::size_t>(p.K), stream));
    return;
  }
  DeviceState& s = state(stream);
  cudnnTensorDescriptor_t dy = nullptr, db = nullptr;
  STRIDER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&dy));
  STRIDER_CUDNN_CHECK(cudnnCreateTensorDescriptor(&db));
  const cudnnStatus_t set1 = cudnnSetTensor4dDescriptor(dy, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, p.N, p.K,
                                                        static_cast<int>(p.P()), static_cast<int>(p.Q()));
  const cudnnStatus_t set2 = cudnnSetTensor4dDescriptor(db, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, p.K, 1, 1);
  const cudnnStatus_t run = (set1 == CUDNN_STATUS_SUCCESS && set2 == CUDNN_STATUS_SUCCESS)
                                ? cudnnConvolutionBackwardBias(s.handle, &kOne, dy, grad_y, &kZero, db, grad_bias)
                                : (set1 != CUDNN_STATUS_SUCCESS ? set1 : set2);
  (void)cudnnDestroyTensorDescriptor(db);
  (void)cudnnDestroyTensorDescriptor(dy);
  STRIDER_CUDNN_CHECK(run);
}

constexpr bool kConv = false, kTransposed = true;
constexpr const char* kBackend = "cudnn";

}  // namespace

void conv2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias, float* y,
                    cudaStream_t stream) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  lowered_forward(l, x, weight, p.has_bias ? bias : nullptr, y, stream);
}

void conv2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight, float* grad_x,
                          cudaStream_t stream) {
  const Conv2dLowered l = conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  lowered_backward_data(l, grad_y, weight, nullptr, grad_x, stream);
}

void conv2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y, float* grad_weight,
                            float* grad_bias, cudaStream_t stream) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kConv, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  lowered_backward_weight(l, x, grad_y, grad_weight, stream);
  if (p.has_bias) bias_grad(p, grad_y, grad_bias, stream);
}

void conv_transpose2d_forward(const Conv2dProblem& p, const float* x, const float* weight, const float* bias,
                              float* y, cudaStream_t stream) {
  const Conv2dLowered l = conv2d_begin_pass(p, kTransposed, Conv2dPass::kForward, kBackend, {x, weight, bias, y});
  lowered_backward_data(l, x, weight, p.has_bias ? bias : nullptr, y, stream);
}

void conv_transpose2d_backward_data(const Conv2dProblem& p, const float* grad_y, const float* weight,
                                    float* grad_x, cudaStream_t stream) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardData, kBackend, {grad_y, weight, grad_x});
  lowered_forward(l, grad_y, weight, nullptr, grad_x, stream);
}

void conv_transpose2d_backward_weight(const Conv2dProblem& p, const float* x, const float* grad_y,
                                      float* grad_weight, float* grad_bias, cudaStream_t stream) {
  const Conv2dLowered l =
      conv2d_begin_pass(p, kTransposed, Conv2dPass::kBackwardWeight, kBackend, {x, grad_y, grad_weight, grad_bias});
  lowered_backward_weight(l, grad_y, x, grad_weight, stream);
  if (p.has_bias) bias_grad(p, grad_y, grad_bias, stream);
}

void conv2d_clear_cache() { thread_states().clear(); }

}  // namespace strider::kernels::cudnn
