// Where a tensor's storage lives: the CPU, or CUDA device N (a real GPU, or the emulated
// device of a STRIDER_CUDA_EMULATION build).
#pragma once

#include <ostream>
#include <string>

namespace strider {

enum class DeviceType : unsigned char { CPU, CUDA };

class Device {
 public:
  constexpr Device() = default;
  constexpr Device(DeviceType type, int index = 0) : type_(type), index_(index) {}
  // Parses "cpu", "cuda", "cuda:1". Throws ValueError naming the accepted forms.
  explicit Device(const std::string& spec);

  static constexpr Device cpu() { return Device(DeviceType::CPU, 0); }
  static constexpr Device cuda(int index = 0) { return Device(DeviceType::CUDA, index); }

  constexpr DeviceType type() const { return type_; }
  constexpr int index() const { return index_; }
  constexpr bool is_cpu() const { return type_ == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type_ == DeviceType::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"

  friend constexpr bool operator==(Device a, Device b) {
    return a.type_ == b.type_ && a.index_ == b.index_;
  }

 private:
  DeviceType type_ = DeviceType::CPU;
  int index_ = 0;
};

std::ostream& operator<<(std::ostream& os, Device d);

// True when this build has a CUDA device (real or emulated) and at least one is present.
bool cuda_is_available();
// Number of CUDA devices present (0 in a CPU-only build or on a machine without a GPU).
int cuda_device_count();
// Why cuda_is_available() is false, in words ("" when it is true). Used by tests that skip.
std::string cuda_unavailable_reason();

}  // namespace strider
