// safetensors files (https://huggingface.co/docs/safetensors): the checkpoint format strider
// writes and reads, readable by Python's `safetensors` and PyTorch (safetensors.torch.load_file).
//
//   save_safetensors("ckpt.safetensors", {{"G.conv1.weight", w}, {"step", Tensor::scalar(5)}},
//                    {{"epoch", "3"}});
//   SafetensorsFile f = load_safetensors("ckpt.safetensors");      // tensors on the CPU
//   Tensor w = f.tensors.at("G.conv1.weight");  std::string e = f.metadata.at("epoch");
//
// Layout written (the format's reference implementation writes the same bytes for the same input
// when there is at most one metadata key):
//   bytes 0..7   header length N, unsigned 64-bit little-endian; N is a multiple of 8
//   bytes 8..    N bytes of compact UTF-8 JSON, padded at the end with spaces:
//                {"__metadata__":{"k":"v",...},"name":{"dtype":"F32","shape":[2,3],
//                 "data_offsets":[0,24]},...}
//                metadata keys in byte order; tensors float64 first, then float32, each group
//                by name (as the reference does: larger alignment first); the data_offsets are
//                relative to the end of the header, contiguous and increasing
//   then         the tensors' elements, row-major (C order), little-endian, no gaps
// Tensors may live on any device and have any strides; they are copied to the host.
//
// Loading checks everything and throws IoError naming the file and the problem: too short to
// hold the header length, a header length past the end of the file or over 100 MB, a header that
// is not a JSON object (a foreign file, e.g. a PNG or a text file, is recognised as such),
// invalid JSON, duplicate keys, a dtype strider does not have (the supported ones are listed),
// a bad shape, data_offsets out of range, overlapping, leaving gaps or not covering the data,
// or a byte size that does not match shape x dtype. Metadata values must be strings.
#pragma once

#include <map>
#include <string>

#include <strider/core/device.hpp>
#include <strider/core/tensor.hpp>

namespace strider {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;  // the "__metadata__" string map (may be empty)
};

// Serialises to the bytes of a safetensors file (what save_safetensors writes).
// ValueError for an undefined tensor, an empty name or the reserved name "__metadata__".
std::string safetensors_bytes(const std::map<std::string, Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// Writes a safetensors file atomically (write_file_atomic): a crash leaves the old file.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a safetensors file; tensors are float32/float64 on `device`, contiguous.
SafetensorsFile load_safetensors(const std::string& path, Device device = Device::cpu());

// Parses the bytes of a safetensors file; `name` (a path) is used in the errors.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name,
                                  Device device = Device::cpu());

}  // namespace strider
