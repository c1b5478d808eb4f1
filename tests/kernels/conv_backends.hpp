// One interface over every conv2d backend for the tests: a backend runs a pass on host buffers
// (a device backend copies them, guard elements included, to the device and back), and
// check_backend() runs the three passes of a problem and compares each output with the float64
// reference.
#pragma once

#include <memory>
#include <string>

#include <omp.h>

#include "conv_test_util.hpp"

namespace strider::test {

class ConvBackend {
 public:
  virtual ~ConvBackend() = default;
  virtual std::string name() const = 0;
  // Each dispatches on p.transposed to conv2d_* or conv_transpose2d_*. Outputs are host Guarded
  // buffers, already poisoned by the caller; `bias` / `db` are null when the problem has no bias.
  virtual void forward(const Conv2dProblem& p, const float* x, const float* w, const float* bias,
                       Guarded<float>& y) = 0;
  virtual void backward_data(const Conv2dProblem& p, const float* dy, const float* w, Guarded<float>& dx) = 0;
  virtual void backward_weight(const Conv2dProblem& p, const float* x, const float* dy, Guarded<float>& dw,
                               Guarded<float>* db) = 0;
};

class CpuBackend : public ConvBackend {
 public:
  explicit CpuBackend(kernels::cpu::Conv2dParallel mode) : mode_(mode) {}
  std::string name() const override {
    switch (mode_) {
      case kernels::cpu::Conv2dParallel::kBatch: return "cpu(batch)";
      case kernels::cpu::Conv2dParallel::kWithin: return "cpu(within)";
      default: return "cpu(auto)";
    }
  }
  void forward(const Conv2dProblem& p, const float* x, const float* w, const float* bias,
               Guarded<float>& y) override {
    if (p.transposed) {
      kernels::cpu::conv_transpose2d_forward(p, x, w, bias, y.data(), mode_);
    } else {
      kernels::cpu::conv2d_forward(p, x, w, bias, y.data(), mode_);
    }
  }
  void backward_data(const Conv2dProblem& p, const float* dy, const float* w, Guarded<float>& dx) override {
    if (p.transposed) {
      kernels::cpu::conv_transpose2d_backward_data(p, dy, w, dx.data(), mode_);
    } else {
      kernels::cpu::conv2d_backward_data(p, dy, w, dx.data(), mode_);
    }
  }
  void backward_weight(const Conv2dProblem& p, const float* x, const float* dy, Guarded<float>& dw,
                       Guarded<float>* db) override {
    float* dbp = db ? db->data() : nullptr;
    if (p.transposed) {
      kernels::cpu::conv_transpose2d_backward_weight(p, x, dy, dw.data(), dbp, mode_);
    } else {
      kernels::cpu::conv2d_backward_weight(p, x, dy, dw.data(), dbp, mode_);
    }
  }

 private:
  kernels::cpu::Conv2dParallel mode_;
};

// Runs with n OpenMP threads (the CPU backend's), restoring the count afterwards.
class OmpThreads {
 public:
  explicit OmpThreads(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~OmpThreads() { omp_set_num_threads(saved_); }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_;
};

// Tolerances for one backend: exact (integer data), or the float rule of conv_test_util.hpp,
// optionally scaled (cuDNN's Winograd / FFT algorithms round differently).
struct Tolerance {
  bool exact = false;
  double scale = 1.0;
};

// Runs forward, backward-data and backward-weight of c.p on `be`; checks every output against the
// float64 reference (all elements written, within tolerance, guards intact), and that grad_bias
// is left alone when the problem has no bias.
inline void check_backend(ConvBackend& be, const ConvCase& c, Tolerance tol = {}) {
  const Conv2dProblem& p = c.p;
  const auto x = cast<float>(c.x), w = cast<float>(c.w), b = cast<float>(c.b), dy = cast<float>(c.dy);
  const double atol = kAtolPerTerm * tol.scale, rtol = kRtol * tol.scale;
  SCOPED_TRACE(be.name() + " " + p.str());
  {
    Guarded<float> y(p.output_size());
    be.forward(p, x.data(), w.data(), p.has_bias ? b.data() : nullptr, y);
    EXPECT_TRUE(matches(c.y_spec, y, c.y, tol.exact, atol, rtol)) << "forward";
  }
  {
    Guarded<float> dx(p.input_size());
    be.backward_data(p, dy.data(), w.data(), dx);
    EXPECT_TRUE(matches(c.dx_spec, dx, c.dx, tol.exact, atol, rtol)) << "backward-data";
  }
  {
    Guarded<float> dw(p.weight_size()), db(p.bias_size());
    be.backward_weight(p, x.data(), dy.data(), dw, p.has_bias ? &db : nullptr);
    EXPECT_TRUE(matches(c.dw_spec, dw, c.dw, tol.exact, atol, rtol)) << "backward-weight";
    if (p.has_bias) {
      EXPECT_TRUE(matches(c.db_spec, db, c.db, tol.exact, atol, rtol)) << "backward-weight (bias)";
    } else {
      bool untouched = db.guard_intact();
      for (Idx i = 0; i < db.size(); ++i) untouched = untouched && std::isnan(db[i]);
      EXPECT_TRUE(untouched) << "grad_bias was written although the problem has no bias";
    }
  }
}

}  // namespace strider::test
