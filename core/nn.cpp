#include <strider/core/nn.hpp>

#include <cmath>

#include <strider/config.hpp>
#include <strider/core/autograd.hpp>
#include <strider/core/ops.hpp>
#include <strider/kernels/batchnorm.hpp>
#include <strider/kernels/conv2d.hpp>
#include <strider/kernels/loss.hpp>
#include <strider/kernels/optim.hpp>

namespace strider {

namespace k = strider::kernels;
using Grads = std::vector<Tensor>;

// ---- backend selection ---------------------------------------------------------------------------

namespace {
ConvBackend g_conv_backend = ConvBackend::Native;

void check_same(const char* op, const Tensor& ref, const Tensor& t, const char* what) {
  if (!t.defined()) return;
  STRIDER_CHECK(t.device() == ref.device(), DeviceError,
                op << ": " << what << " is on " << t.device() << " but the input is on " << ref.device()
                   << "; move it with .to(" << ref.device() << ")");
  STRIDER_CHECK(t.dtype() == ref.dtype(), DTypeError,
                op << ": " << what << " is " << t.dtype() << " but the input is " << ref.dtype()
                   << "; convert it with .to(DType::" << (ref.dtype() == DType::Float32 ? "Float32" : "Float64") << ")");
}

template <class T> T* ptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; }
}  // namespace

bool cudnn_is_available() { return STRIDER_HAS_CUDNN && cuda_is_available(); }

void set_conv_backend(ConvBackend backend) {
  STRIDER_CHECK(backend != ConvBackend::Cudnn || STRIDER_HAS_CUDNN, DeviceError,
                "the cudnn convolution backend was requested, but this build of strider has no cuDNN (it needs a "
                "real-CUDA build with cuDNN installed); use the native (hand-written) backend");
  g_conv_backend = backend;
}
ConvBackend conv_backend() { return g_conv_backend; }

ConvBackend parse_conv_backend(const std::string& name) {
  if (name == "native" || name == "strider" || name == "hand-written" || name == "handwritten") return ConvBackend::Native;
  if (name == "cudnn") return ConvBackend::Cudnn;
  STRIDER_THROW(ValueError, "unknown convolution backend '" << name << "': use \"native\" (hand-written) or \"cudnn\"");
}

// ---- convolution ---------------------------------------------------------------------------------

namespace {

enum class Pass { Forward, BackwardData, BackwardWeight };

// Runs one pass of conv2d (transposed = false) or conv_transpose2d on the tensors' device.
// Buffers are contiguous; unused ones are undefined.
void run_conv_pass(const k::Conv2dProblem& p, Pass pass, const Tensor& a, const Tensor& b, const Tensor& bias,
                   const Tensor& out, const Tensor& out2) {
  const Device dev = out.device();
  const bool tr = p.transposed;
  if (dev.is_cpu() && out.dtype() == DType::Float64) {
    using T = double;
    switch (pass) {
      case Pass::Forward:
        (tr ? k::ref::conv_transpose2d_forward : k::ref::conv2d_forward)(p, ptr<T>(a), ptr<T>(b), ptr<T>(bias), ptr<T>(out));
        return;
      case Pass::BackwardData:
        (tr ? k::ref::conv_transpose2d_backward_data : k::ref::conv2d_backward_data)(p, ptr<T>(a), ptr<T>(b), ptr<T>(out));
        return;
      case Pass::BackwardWeight:
        (tr ? k::ref::conv_transpose2d_backward_weight : k::ref::conv2d_backward_weight)(p, ptr<T>(a), ptr<T>(b), ptr<T>(out),
                                                                                       ptr<T>(out2));
        return;
    }
  }
  STRIDER_CHECK(out.dtype() == DType::Float32, DTypeError,
                (tr ? "conv_transpose2d" : "conv2d") << " on " << dev << " runs in float32 only (float64 convolution "
                                                     "is CPU-only, for gradient checks); convert with .to(DType::Float32)");
  using T = float;
  if (dev.is_cpu()) {
    switch (pass) {
      case Pass::Forward:
        if (tr) k::cpu::conv_transpose2d_forward(p, ptr<T>(a), ptr<T>(b), ptr<T>(bias), ptr<T>(out));
        else k::cpu::conv2d_forward(p, ptr<T>(a), ptr<T>(b), ptr<T>(bias), ptr<T>(out));
        return;
      case Pass::BackwardData:
        if (tr) k::cpu::conv_transpose2d_backward_data(p, ptr<T>(a), ptr<T>(b), ptr<T>(out));
        else k::cpu::conv2d_backward_data(p, ptr<T>(a), ptr<T>(b), ptr<T>(out));
        return;
      case Pass::BackwardWeight:
        if (tr) k::cpu::conv_transpose2d_backward_weight(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), ptr<T>(out2));
        else k::cpu::conv2d_backward_weight(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), ptr<T>(out2));
        return;
    }
  }
#if STRIDER_HAS_CUDNN
  if (g_conv_backend == ConvBackend::Cudnn) {
    namespace kc = k::cudnn;
    switch (pass) {
      case Pass::Forward:
        (tr ? kc::conv_transpose2d_forward : kc::conv2d_forward)(p, ptr<T>(a), ptr<T>(b), ptr<T>(bias), ptr<T>(out), nullptr);
        return;
      case Pass::BackwardData:
        (tr ? kc::conv_transpose2d_backward_data : kc::conv2d_backward_data)(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), nullptr);
        return;
      case Pass::BackwardWeight:
        (tr ? kc::conv_transpose2d_backward_weight : kc::conv2d_backward_weight)(p, ptr<T>(a), ptr<T>(b), ptr<T>(out),
                                                                               ptr<T>(out2), nullptr);
        return;
    }
  }
#endif
#if STRIDER_HAS_CUDA
  namespace kc = k::cuda;
  switch (pass) {
    case Pass::Forward:
      if (tr) kc::conv_transpose2d_forward(p, ptr<T>(a), ptr<T>(b), ptr<T>(bias), ptr<T>(out), nullptr);
      else kc::conv2d_forward(p, ptr<T>(a), ptr<T>(b), ptr<T>(bias), ptr<T>(out), nullptr);
      return;
    case Pass::BackwardData:
      if (tr) kc::conv_transpose2d_backward_data(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), nullptr);
      else kc::conv2d_backward_data(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), nullptr);
      return;
    case Pass::BackwardWeight:
      if (tr) kc::conv_transpose2d_backward_weight(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), ptr<T>(out2), nullptr);
      else kc::conv2d_backward_weight(p, ptr<T>(a), ptr<T>(b), ptr<T>(out), ptr<T>(out2), nullptr);
      return;
  }
#endif
  STRIDER_THROW(DeviceError, "convolution on " << dev << ": " << cuda_unavailable_reason());
}

Tensor conv_common(const char* op, bool transposed, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
                   const Conv2dOptions& opt) {
  x_in.check_defined(op);
  w_in.check_defined(op);
  check_same(op, x_in, w_in, "the weight");
  check_same(op, x_in, b_in, "the bias");
  STRIDER_CHECK(x_in.dim() == 4, ShapeError,
                op << " expects a 4-D input (N, C, H, W), got shape " << shape_str(x_in.shape())
                   << (x_in.dim() == 3 ? "; for a single image add the batch dim with unsqueeze(0)" : ""));
  STRIDER_CHECK(w_in.dim() == 4, ShapeError,
                op << " expects a 4-D weight (" << (transposed ? "C_in, C_out/groups" : "C_out, C_in/groups")
                   << ", kH, kW), got shape " << shape_str(w_in.shape()));
  k::Conv2dProblem p;
  p.stride_h = opt.stride[0];
  p.stride_w = opt.stride[1];
  p.pad_h = opt.padding[0];
  p.pad_w = opt.padding[1];
  p.dil_h = opt.dilation[0];
  p.dil_w = opt.dilation[1];
  p.out_pad_h = opt.output_padding[0];
  p.out_pad_w = opt.output_padding[1];
  p.groups = opt.groups;
  p.transposed = transposed;
  p.has_bias = b_in.defined();
  const std::int64_t xs[4] = {x_in.size(0), x_in.size(1), x_in.size(2), x_in.size(3)};
  const std::int64_t ws[4] = {w_in.size(0), w_in.size(1), w_in.size(2), w_in.size(3)};
  p.set_shapes(xs, ws);
  p.validate();
  if (b_in.defined()) {
    STRIDER_CHECK(b_in.dim() == 1 && b_in.size(0) == p.K, ShapeError,
                  op << ": bias of shape " << shape_str(b_in.shape()) << " does not match the " << p.K
                     << " output channels; it must have shape [" << p.K << "]");
  }
  const Tensor x = x_in.contiguous(), w = w_in.contiguous(), b = b_in.defined() ? b_in.contiguous() : Tensor();
  Tensor y = Tensor::empty({p.N, p.K, p.P(), p.Q()}, x.options());
  run_conv_pass(p, Pass::Forward, x, w, b, y, Tensor());
  const std::vector<Tensor> inputs = b_in.defined() ? std::vector<Tensor>{x_in, w_in, b_in} : std::vector<Tensor>{x_in, w_in};
  if (needs_grad(inputs)) {
    const bool need_x = x_in.requires_grad(), need_w = w_in.requires_grad() || (b_in.defined() && b_in.requires_grad());
    record(y, transposed ? "ConvTranspose2dBackward" : "Conv2dBackward", inputs,
           [p, x = x.detach(), w = w.detach(), need_x, need_w](const Tensor& g_in) -> Grads {
             const Tensor g = g_in.contiguous();
             Grads grads(p.has_bias ? 3 : 2);
             if (need_x) {
               grads[0] = Tensor::empty(x.shape(), x.options());
               run_conv_pass(p, Pass::BackwardData, g, w, Tensor(), grads[0], Tensor());
             }
             if (need_w) {
               grads[1] = Tensor::empty(w.shape(), w.options());
               if (p.has_bias) grads[2] = Tensor::empty({p.K}, w.options());
               run_conv_pass(p, Pass::BackwardWeight, x, g, Tensor(), grads[1], p.has_bias ? grads[2] : Tensor());
             }
             return grads;
           });
  }
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  return conv_common("conv2d", false, x, weight, bias, opt);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  return conv_common("conv_transpose2d", true, x, weight, bias, opt);
}

}  // namespace strider

// ---- batch norm ----------------------------------------------------------------------------------

namespace strider {

namespace {

template <class F>
void bn_dispatch(const Tensor& like, F&& f) {
  visit_dtype(like.dtype(), [&](auto tag) {
    using T = decltype(tag);
    f(T{}, like.device().is_cpu());
  });
}

}  // namespace

Tensor batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  x_in.check_defined(op);
  for (auto [t, what] : {std::pair{&weight, "the weight"}, std::pair{&bias, "the bias"},
                         std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}})
    check_same(op, x_in, *t, what);
  STRIDER_CHECK(x_in.dim() == 4 || x_in.dim() == 2, ShapeError,
                op << " expects an (N, C, H, W) or (N, C) input, got shape " << shape_str(x_in.shape()));
  STRIDER_CHECK(weight.defined() == bias.defined(), ValueError,
                op << ": give both weight and bias (affine) or neither");
  STRIDER_CHECK(running_mean.defined() == running_var.defined(), ValueError,
                op << ": give both running_mean and running_var or neither");
  STRIDER_CHECK(training || running_mean.defined(), ValueError,
                op << " in eval mode needs running statistics (track_running_stats); use training mode or keep them");
  k::BatchNormProblem p;
  p.N = x_in.size(0);
  p.C = x_in.size(1);
  p.HW = x_in.dim() == 4 ? x_in.size(2) * x_in.size(3) : 1;
  p.eps = eps;
  p.momentum = momentum;
  for (auto [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"},
                         std::pair{&running_mean, "running_mean"}, std::pair{&running_var, "running_var"}}) {
    if (!t->defined()) continue;
    STRIDER_CHECK(t->dim() == 1 && t->size(0) == p.C, ShapeError,
                  op << ": " << what << " has shape " << shape_str(t->shape()) << " but the input has " << p.C
                     << " channels (shape " << shape_str(x_in.shape()) << "); it must have shape [" << p.C << "]");
    STRIDER_CHECK(t->is_contiguous(), ValueError, op << ": " << what << " must be contiguous");
  }
  p.validate(training);
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.options());
  const std::vector<Tensor> inputs = weight.defined() ? std::vector<Tensor>{x_in, weight, bias} : std::vector<Tensor>{x_in};
  if (training) {
    Tensor mean = Tensor::empty({p.C}, x.options()), invstd = Tensor::empty({p.C}, x.options());
    bn_dispatch(x, [&](auto tag, bool cpu) {
      using T = decltype(tag);
      if (cpu) {
        k::cpu::batch_norm_forward_training<T>(p, ptr<T>(x), ptr<T>(weight), ptr<T>(bias), ptr<T>(y), ptr<T>(mean),
                                               ptr<T>(invstd), ptr<T>(running_mean), ptr<T>(running_var));
      } else {
#if STRIDER_HAS_CUDA
        k::cuda::batch_norm_forward_training<T>(p, ptr<T>(x), ptr<T>(weight), ptr<T>(bias), ptr<T>(y), ptr<T>(mean),
                                                ptr<T>(invstd), ptr<T>(running_mean), ptr<T>(running_var));
#endif
      }
    });
    if (needs_grad(inputs)) {
      record(y, "BatchNormBackward", inputs,
             [p, x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean, invstd](const Tensor& g_in) -> Grads {
               const Tensor g = g_in.contiguous();
               Tensor gx = Tensor::empty(x.shape(), x.options());
               Tensor gw = w.defined() ? Tensor::empty({p.C}, x.options()) : Tensor();
               Tensor gb = w.defined() ? Tensor::empty({p.C}, x.options()) : Tensor();
               bn_dispatch(x, [&](auto tag, bool cpu) {
                 using T = decltype(tag);
                 if (cpu) {
                   k::cpu::batch_norm_backward<T>(p, ptr<T>(g), ptr<T>(x), ptr<T>(mean), ptr<T>(invstd), ptr<T>(w),
                                                  ptr<T>(gx), ptr<T>(gw), ptr<T>(gb));
                 } else {
#if STRIDER_HAS_CUDA
                   k::cuda::batch_norm_backward<T>(p, ptr<T>(g), ptr<T>(x), ptr<T>(mean), ptr<T>(invstd), ptr<T>(w),
                                                   ptr<T>(gx), ptr<T>(gw), ptr<T>(gb));
#endif
                 }
               });
               return w.defined() ? Grads{gx, gw, gb} : Grads{gx};
             });
    }
    return y;
  }
  bn_dispatch(x, [&](auto tag, bool cpu) {
    using T = decltype(tag);
    if (cpu) {
      k::cpu::batch_norm_forward_eval<T>(p, ptr<T>(x), ptr<T>(weight), ptr<T>(bias), ptr<T>(running_mean),
                                         ptr<T>(running_var), ptr<T>(y));
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::batch_norm_forward_eval<T>(p, ptr<T>(x), ptr<T>(weight), ptr<T>(bias), ptr<T>(running_mean),
                                          ptr<T>(running_var), ptr<T>(y));
#endif
    }
  });
  if (needs_grad(inputs)) {
    // Eval mode is an affine map per channel: y = (x - rm) * invstd * w + b.
    record(y, "BatchNormEvalBackward", inputs,
           [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), rm = running_mean.detach().clone(),
            rv = running_var.detach().clone(), eps, four = x.dim() == 4](const Tensor& g) -> Grads {
             const Shape bshape = four ? Shape{1, -1, 1, 1} : Shape{1, -1};
             const std::vector<std::int64_t> red = four ? std::vector<std::int64_t>{0, 2, 3} : std::vector<std::int64_t>{0};
             const Tensor invstd = rsqrt(rv + eps);
             const Tensor scale = w.defined() ? mul(invstd, w) : invstd;
             const Tensor gx = mul(g, scale.reshape(bshape));
             if (!w.defined()) return {gx};
             const Tensor xhat = mul(sub(x, rm.reshape(bshape)), invstd.reshape(bshape));
             return {gx, sum(mul(g, xhat), red), sum(g, red)};
           });
  }
  return y;
}

// ---- losses --------------------------------------------------------------------------------------

namespace {

k::LossReduction to_kernel(Reduction r) {
  switch (r) {
    case Reduction::None: return k::LossReduction::None;
    case Reduction::Sum: return k::LossReduction::Sum;
    case Reduction::Mean: break;
  }
  return k::LossReduction::Mean;
}

Tensor loss_common(const char* op, k::LossKind kind, const Tensor& input, const Tensor& target_in, Reduction reduction) {
  input.check_defined(op);
  target_in.check_defined(op);
  check_same(op, input, target_in, "the target");
  STRIDER_CHECK(input.shape() == target_in.shape(), ShapeError,
                op << ": input " << shape_str(input.shape()) << " and target " << shape_str(target_in.shape())
                   << " must have the same shape; reshape or expand the target (e.g. target.expand_as(input)) first");
  if (kind == k::LossKind::BinaryCrossEntropy && input.numel() > 0) {
    NoGradGuard ng;
    const double lo = input.min().item(), hi = input.max().item();
    STRIDER_CHECK(lo >= 0 && hi <= 1, ValueError,
                  op << ": input values must be probabilities in [0, 1], got values in [" << lo << ", " << hi
                     << "]; apply sigmoid() first, or use binary_cross_entropy_with_logits on the raw scores");
  }
  if (kind != k::LossKind::MeanSquaredError && target_in.numel() > 0) {
    NoGradGuard ng;
    const double lo = target_in.min().item(), hi = target_in.max().item();
    STRIDER_CHECK(lo >= 0 && hi <= 1, ValueError,
                  op << ": target values must be in [0, 1], got values in [" << lo << ", " << hi << "]");
  }
  const Tensor x = input.contiguous(), t = target_in.contiguous();
  const std::int64_t n = x.numel();
  const k::LossReduction kr = to_kernel(reduction);
  Tensor out = reduction == Reduction::None ? Tensor::empty(x.shape(), x.options()) : Tensor::empty({}, x.options());
  visit_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (x.device().is_cpu()) {
      k::cpu::loss_forward<T>(kind, kr, n, ptr<T>(x), ptr<T>(t), ptr<T>(out));
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::loss_forward<T>(kind, kr, n, ptr<T>(x), ptr<T>(t), ptr<T>(out));
#endif
    }
  });
  if (needs_grad({input, target_in})) {
    record(out, kind == k::LossKind::MeanSquaredError ? "MseLossBackward"
                : kind == k::LossKind::BinaryCrossEntropy ? "BinaryCrossEntropyBackward"
                                                          : "BinaryCrossEntropyWithLogitsBackward",
           {input, target_in},
           [kind, kr, n, reduction, x = x.detach(), t = t.detach(), need_t = target_in.requires_grad()](const Tensor& g_in) -> Grads {
             const Tensor g = g_in.contiguous();
             Tensor gx = Tensor::empty(x.shape(), x.options());
             visit_dtype(x.dtype(), [&](auto tag) {
               using T = decltype(tag);
               if (x.device().is_cpu()) {
                 k::cpu::loss_backward<T>(kind, kr, n, ptr<T>(x), ptr<T>(t), ptr<T>(g), ptr<T>(gx));
               } else {
#if STRIDER_HAS_CUDA
                 k::cuda::loss_backward<T>(kind, kr, n, ptr<T>(x), ptr<T>(t), ptr<T>(g), ptr<T>(gx));
#endif
               }
             });
             if (!need_t) return {gx};
             // d/dt, from the closed forms, with the same upstream scaling as the input's.
             const double scale = reduction == Reduction::Mean ? 1.0 / static_cast<double>(std::max<std::int64_t>(n, 1)) : 1.0;
             const Tensor up = (reduction == Reduction::None ? g : g.expand(x.shape())) * scale;
             Tensor gt;
             if (kind == k::LossKind::MeanSquaredError) gt = mul(up, sub(t, x)) * 2.0;
             else if (kind == k::LossKind::BinaryCrossEntropyWithLogits) gt = neg(mul(up, x));
             else gt = neg(mul(up, sub(log(clamp_min(x, 1e-44)), log(clamp_min(1.0 - x, 1e-44)))));
             return {gx, gt};
           });
  }
  return out;
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, Reduction reduction) {
  return loss_common("binary_cross_entropy", k::LossKind::BinaryCrossEntropy, input, target, reduction);
}
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, Reduction reduction) {
  return loss_common("binary_cross_entropy_with_logits", k::LossKind::BinaryCrossEntropyWithLogits, input, target,
                     reduction);
}
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  return loss_common("mse_loss", k::LossKind::MeanSquaredError, input, target, reduction);
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  STRIDER_CHECK(x.defined(), ValueError, "log_softmax: the input tensor is undefined");
  const std::int64_t nd = x.dim();
  STRIDER_CHECK(nd >= 1 && dim >= -nd && dim < nd, IndexError,
                "log_softmax: dim " << dim << " is out of range for a " << nd << "-d tensor of shape "
                                    << shape_str(x.shape()) << " (valid: " << -nd << " .. " << nd - 1 << ")");
  // The max is a constant shift (it cancels in the gradient), so it is taken without a graph.
  const Tensor shifted = x - amax(x, {dim}, true).detach();
  return shifted - log(sum(exp(shifted), {dim}, true));
}

Tensor cross_entropy(const Tensor& logits, const std::vector<std::int32_t>& labels, Reduction reduction) {
  STRIDER_CHECK(logits.defined(), ValueError, "cross_entropy: the logits tensor is undefined");
  STRIDER_CHECK(logits.dim() == 2 && logits.size(0) == static_cast<std::int64_t>(labels.size()), ShapeError,
                "cross_entropy: logits must be (N, C) with N = the number of labels; got logits "
                    << shape_str(logits.shape()) << " and " << labels.size()
                    << " labels (flatten the scores to (N, C) first, one label per row)");
  const std::int64_t n = logits.size(0), c = logits.size(1);
  std::vector<double> onehot(static_cast<std::size_t>(n * c), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t y = labels[static_cast<std::size_t>(i)];
    STRIDER_CHECK(y >= 0 && y < c, IndexError,
                  "cross_entropy: label " << y << " of row " << i << " is outside [0, " << c << ") for " << c
                                          << " classes (labels are class indices 0 .. C-1)");
    onehot[static_cast<std::size_t>(i * c + y)] = 1.0;
  }
  const Tensor target = Tensor::from_vector(onehot, {n, c}, logits.options());
  const Tensor per_row = -sum(log_softmax(logits, 1) * target, {1});
  switch (reduction) {
    case Reduction::None: return per_row;
    case Reduction::Sum: return sum(per_row);
    case Reduction::Mean: break;
  }
  return mean(per_row);
}

}  // namespace strider

// ---- optimizer steps -----------------------------------------------------------------------------

namespace strider {

namespace {
void check_param_like(const char* op, const Tensor& param, const Tensor& t, const char* what) {
  t.check_defined(op);
  check_same(op, param, t, what);
  STRIDER_CHECK(t.shape() == param.shape(), ShapeError,
                op << ": " << what << " has shape " << shape_str(t.shape()) << ", the parameter "
                   << shape_str(param.shape()));
  STRIDER_CHECK(t.is_contiguous(), ValueError, op << ": " << what << " must be contiguous");
}
}  // namespace

void adam_step(Tensor& param, const Tensor& grad_in, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamStep& s) {
  param.check_defined("adam_step");
  STRIDER_CHECK(param.is_contiguous(), ValueError, "adam_step: the parameter must be contiguous");
  const Tensor grad = grad_in.defined() ? grad_in.contiguous() : grad_in;
  check_param_like("adam_step", param, grad, "the gradient");
  check_param_like("adam_step", param, exp_avg, "exp_avg");
  check_param_like("adam_step", param, exp_avg_sq, "exp_avg_sq");
  k::AdamOptions o{s.lr, s.beta1, s.beta2, s.eps, s.weight_decay};
  o.validate();
  STRIDER_CHECK(s.step >= 1, ValueError, "adam_step: step " << s.step << " must be >= 1 (1 for the first update)");
  visit_dtype(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (param.device().is_cpu()) {
      k::cpu::adam_step<T>(o, s.step, param.numel(), ptr<T>(param), ptr<T>(grad), ptr<T>(exp_avg), ptr<T>(exp_avg_sq));
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::adam_step<T>(o, s.step, param.numel(), ptr<T>(param), ptr<T>(grad), ptr<T>(exp_avg), ptr<T>(exp_avg_sq));
#endif
    }
  });
}

void sgd_step(Tensor& param, const Tensor& grad_in, Tensor& momentum_buffer, const SgdStep& s) {
  param.check_defined("sgd_step");
  STRIDER_CHECK(param.is_contiguous(), ValueError, "sgd_step: the parameter must be contiguous");
  const Tensor grad = grad_in.defined() ? grad_in.contiguous() : grad_in;
  check_param_like("sgd_step", param, grad, "the gradient");
  if (s.momentum != 0) check_param_like("sgd_step", param, momentum_buffer, "the momentum buffer");
  k::SgdOptions o{s.lr, s.momentum, s.dampening, s.weight_decay, s.nesterov};
  o.validate();
  visit_dtype(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* buf = s.momentum != 0 ? ptr<T>(momentum_buffer) : nullptr;
    if (param.device().is_cpu()) {
      k::cpu::sgd_step<T>(o, s.first_step, param.numel(), ptr<T>(param), ptr<T>(grad), buf);
    } else {
#if STRIDER_HAS_CUDA
      k::cuda::sgd_step<T>(o, s.first_step, param.numel(), ptr<T>(param), ptr<T>(grad), buf);
#endif
    }
  });
}

}  // namespace strider
