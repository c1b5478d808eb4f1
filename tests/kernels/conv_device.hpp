// Device-side helpers for the CUDA and cuDNN conv2d tests: the no-device skip, device buffers that
// carry the host buffer's guard elements along, and a ConvBackend that runs a pass on device
// copies of host buffers (outputs go up poisoned, with their guards, and come back whole).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <strider/kernels/conv2d.hpp>
#include <strider/kernels/cuda_runtime.hpp>

#include "conv_backends.hpp"

namespace strider::test {

// Why CUDA tests cannot run here ("" when a device is present).
inline std::string cuda_device_missing() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no CUDA device: cudaGetDeviceCount failed with ") + cudaGetErrorName(status) + " (" +
           cudaGetErrorString(status) + "); this build's CUDA tests need a GPU";
  }
  if (count == 0) return "no CUDA device present (cudaGetDeviceCount = 0); this build's CUDA tests need a GPU";
  return "";
}

#define STRIDER_SKIP_WITHOUT_CUDA_DEVICE()                                     \
  do {                                                                         \
    if (const std::string why = ::strider::test::cuda_device_missing(); !why.empty()) GTEST_SKIP() << why; \
  } while (0)

// n floats of device memory (plus room for kGuard guard elements), freed on destruction.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(Idx n) : n_(n) {
    STRIDER_CUDA_CHECK(cudaMalloc(&ptr_, sizeof(float) * static_cast<std::size_t>(n + kGuard)));
  }
  explicit DeviceBuffer(const std::vector<float>& host) : DeviceBuffer(static_cast<Idx>(host.size())) {
    if (!host.empty()) {
      STRIDER_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice));
    }
  }
  explicit DeviceBuffer(const Guarded<float>& host) : DeviceBuffer(host.size()) {
    STRIDER_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), sizeof(float) * static_cast<std::size_t>(host.size_with_guard()),
                                  cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { (void)cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  float* get() { return ptr_; }
  // Copies payload and guard back into `host` (same size).
  void download(Guarded<float>& host) const {
    STRIDER_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, sizeof(float) * static_cast<std::size_t>(host.size_with_guard()),
                                  cudaMemcpyDeviceToHost));
  }
  std::vector<float> download() const {
    std::vector<float> out(static_cast<std::size_t>(n_));
    if (n_ > 0) STRIDER_CUDA_CHECK(cudaMemcpy(out.data(), ptr_, sizeof(float) * out.size(), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  float* ptr_ = nullptr;
  Idx n_;
};

// A stream for one test, destroyed with it.
class TestStream {
 public:
  TestStream() { STRIDER_CUDA_CHECK(cudaStreamCreate(&stream_)); }
  ~TestStream() { (void)cudaStreamDestroy(stream_); }
  TestStream(const TestStream&) = delete;
  TestStream& operator=(const TestStream&) = delete;
  cudaStream_t get() const { return stream_; }
  void sync() const { STRIDER_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

// The six passes of one device backend, as functions of device pointers and a stream.
struct DevicePasses {
  std::string name;
  std::function<void(const Conv2dProblem&, const float*, const float*, const float*, float*, cudaStream_t)> forward;
  std::function<void(const Conv2dProblem&, const float*, const float*, float*, cudaStream_t)> backward_data;
  std::function<void(const Conv2dProblem&, const float*, const float*, float*, float*, cudaStream_t)>
      backward_weight;
};

class DeviceBackend : public ConvBackend {
 public:
  explicit DeviceBackend(DevicePasses passes) : passes_(std::move(passes)) {}
  std::string name() const override { return passes_.name; }

  void forward(const Conv2dProblem& p, const float* x, const float* w, const float* bias,
               Guarded<float>& y) override {
    DeviceBuffer dx(std::vector<float>(x, x + p.input_size())), dw(std::vector<float>(w, w + p.weight_size()));
    DeviceBuffer db(bias ? std::vector<float>(bias, bias + p.bias_size()) : std::vector<float>());
    DeviceBuffer dy(y);
    passes_.forward(p, dx.get(), dw.get(), bias ? db.get() : nullptr, dy.get(), stream_.get());
    stream_.sync();
    dy.download(y);
  }
  void backward_data(const Conv2dProblem& p, const float* gy, const float* w, Guarded<float>& gx) override {
    DeviceBuffer dgy(std::vector<float>(gy, gy + p.output_size())), dw(std::vector<float>(w, w + p.weight_size()));
    DeviceBuffer dgx(gx);
    passes_.backward_data(p, dgy.get(), dw.get(), dgx.get(), stream_.get());
    stream_.sync();
    dgx.download(gx);
  }
  void backward_weight(const Conv2dProblem& p, const float* x, const float* gy, Guarded<float>& gw,
                       Guarded<float>* gb) override {
    DeviceBuffer dx(std::vector<float>(x, x + p.input_size())), dgy(std::vector<float>(gy, gy + p.output_size()));
    DeviceBuffer dgw(gw);
    Guarded<float> unused(0);
    DeviceBuffer dgb(gb ? *gb : unused);
    passes_.backward_weight(p, dx.get(), dgy.get(), dgw.get(), gb ? dgb.get() : nullptr, stream_.get());
    stream_.sync();
    dgw.download(gw);
    if (gb) dgb.download(*gb);
  }

 private:
  DevicePasses passes_;
  TestStream stream_;
};

// Our CUDA kernels (kernels/cuda/conv2d*.cu), one version.
inline DevicePasses cuda_passes(kernels::cuda::Conv2dAlgo algo) {
  using kernels::cuda::Conv2dAlgo;
  namespace k = kernels::cuda;
  DevicePasses d;
  d.name = algo == Conv2dAlgo::kDirect ? "cuda(direct)" : "cuda(implicit-gemm)";
  d.forward = [algo](const Conv2dProblem& p, const float* x, const float* w, const float* b, float* y,
                     cudaStream_t s) {
    if (p.transposed) {
      k::conv_transpose2d_forward(p, x, w, b, y, s, algo);
    } else {
      k::conv2d_forward(p, x, w, b, y, s, algo);
    }
  };
  d.backward_data = [algo](const Conv2dProblem& p, const float* gy, const float* w, float* gx, cudaStream_t s) {
    if (p.transposed) {
      k::conv_transpose2d_backward_data(p, gy, w, gx, s, algo);
    } else {
      k::conv2d_backward_data(p, gy, w, gx, s, algo);
    }
  };
  d.backward_weight = [algo](const Conv2dProblem& p, const float* x, const float* gy, float* gw, float* gb,
                             cudaStream_t s) {
    if (p.transposed) {
      k::conv_transpose2d_backward_weight(p, x, gy, gw, gb, s, algo);
    } else {
      k::conv2d_backward_weight(p, x, gy, gw, gb, s, algo);
    }
  };
  return d;
}

}  // namespace strider::test
