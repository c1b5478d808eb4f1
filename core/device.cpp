#include <strider/core/device.hpp>

#include <cctype>

#include <strider/core/error.hpp>

namespace strider {

Device::Device(const std::string& spec) {
  auto bad = [&]() {
    STRIDER_THROW(ValueError, "unknown device '" << spec << "': use \"cpu\", \"cuda\" or \"cuda:N\" (N >= 0)");
  };
  if (spec == "cpu") { type_ = DeviceType::CPU; index_ = 0; return; }
  if (spec.rfind("cuda", 0) != 0) bad();
  type_ = DeviceType::CUDA;
  if (spec.size() == 4) { index_ = 0; return; }
  if (spec[4] != ':' || spec.size() == 5 || spec.size() > 9) bad();
  int idx = 0;
  for (size_t i = 5; i < spec.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(spec[i]))) bad();
    idx = idx * 10 + (spec[i] - '0');
  }
  index_ = idx;
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_); }

std::ostream& operator<<(std::ostream& os, Device d) { return os << d.str(); }

}  // namespace strider
