// Internal to diagnose.cpp / fixes.cpp: the fix search. Not installed API.
#pragma once

#include <strider/layers/diagnose.hpp>
#include <string>
#include <vector>

namespace strider::nn::detail {

// Collects verified fixes for one failing layer.
class FixFinder {
 public:
  // `chain`: the layers to verify on (the model, or the layers seen so far ending at `failing`);
  // `whole_model`: the chain is the real model, so model-level fixes make sense.
  FixFinder(const Diagnosis& d, ModelContext chain, bool whole_model);

  // Verifies `f` and keeps it unless it fails or repeats an earlier fix's change, in which case
  // `note_if_repeated` is appended to the earlier fix's text. Returns whether it was kept or merged.
  bool add(Fix f, const std::string& note_if_repeated = "");
  std::vector<Fix> take() { return std::move(fixes_); }

  // One function per issue (ShapeIssue); each adds what applies.
  void spatial();
  void channels();
  void features();
  void rank();
  void batch_stats();
  void too_large();
  void flatten_dims();
  // Model-level: an input the whole model accepts (returned through the diagnosis) and the
  // "build it for this input" changes.
  std::optional<Shape> model_input();
  void design_for_input(const Shape& expects);

 private:
  bool verify(const Fix& f) const;
  Fix change(const LayerSpec& layer, std::string text) const;
  std::string output_of(const LayerSpec& layer) const;  // what `layer` gives on the failing input

  const Diagnosis& d_;
  ModelContext chain_;
  bool whole_model_;
  std::vector<Fix> fixes_;
};

// The step before the failing layer whose output set the mismatched dim (channels: dim 1, features:
// the last dim), searching the trail backwards; nullptr when the model's input set it.
const TrailStep* find_producer(const std::vector<TrailStep>& trail, ShapeIssue issue);

}  // namespace strider::nn::detail
