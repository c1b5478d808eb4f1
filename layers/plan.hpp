// Shape planning: every layer's path, type, output shape, parameter count and FLOPs for an input
// shape, WITHOUT allocating tensors or running kernels (each layer's shape function, spec.hpp).
//
//   std::cout << nn::summary(*discriminator, {64, 3, 28, 28});
//
// prints a table (as torchinfo / Keras do) and, when a layer cannot take what it gets, the table up
// to it with the failing row marked and the same diagnosis forward() would throw. plan() never
// throws for shape problems: the result carries the diagnosis.
#pragma once

#include <cstdint>
#include <optional>
#include <strider/layers/diagnose.hpp>
#include <strider/layers/module.hpp>
#include <strider/layers/solve.hpp>
#include <strider/layers/spec.hpp>
#include <string>
#include <vector>

namespace strider::nn {

struct PlanRow {
  std::string path, type;
  std::string description;  // "Conv2d(3 -> 64, kernel 4, stride 2, padding 1, bias=false)"
  Shape input, output;      // output is empty for the failing row
  std::int64_t params = 0, flops = 0;
  bool failed = false;
};

struct Plan {
  std::string model;       // the root's path ("" when unnamed)
  std::string model_type;  // "Sequential"
  Shape input;
  std::vector<PlanRow> rows;      // every layer, or up to and including the failing one
  Shape output;                   // the model's output when ok()
  std::int64_t total_params = 0;  // the whole module's parameters
  std::int64_t total_flops = 0;   // forward FLOPs of the rows that fit
  std::optional<Diagnosis> diagnosis;

  bool ok() const { return !diagnosis.has_value(); }
  const PlanRow* failed_row() const { return ok() || rows.empty() ? nullptr : &rows.back(); }
  // The summary table (and the diagnosis, when a layer failed).
  std::string str() const;
};

// Plans `module`'s chain of layers (Module::layer_specs) on `input`.
Plan plan(const Module& module, const Shape& input);
// Plans a chain of layer specs, e.g. one with a Fix applied.
Plan plan(const std::vector<LayerSpec>& layers, const Shape& input, const std::string& model = "");
// plan(module, input).str()
std::string summary(const Module& module, const Shape& input);

// "1,234,567"
std::string thousands(std::int64_t n);

}  // namespace strider::nn
