#include <strider/core/storage.hpp>

#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <strider/config.hpp>
#include <strider/core/cuda.hpp>
#include <strider/core/error.hpp>

namespace strider {

#if STRIDER_HAS_CUDA
DeviceBackend& cuda_device_backend();  // core/cuda/cuda_backend.cu
#endif

namespace {

class CpuBackend final : public DeviceBackend {
 public:
  void* allocate(std::size_t nbytes, int) override {
    if (nbytes == 0) return nullptr;
    const std::size_t rounded = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
    void* p = std::aligned_alloc(kCpuAlignment, rounded);
    STRIDER_CHECK(p != nullptr, OutOfMemoryError,
                  "out of CPU memory: could not allocate " << nbytes << " bytes ("
                      << nbytes / (1 << 20) << " MiB); use smaller tensors or a smaller batch");
    return p;
  }
  void deallocate(void* ptr, std::size_t, int) override { std::free(ptr); }
  void copy_from_host(void* dst, const void* src, std::size_t n, int) override { if (n) std::memcpy(dst, src, n); }
  void copy_to_host(void* dst, const void* src, std::size_t n, int) override { if (n) std::memcpy(dst, src, n); }
  void copy_on_device(void* dst, const void* src, std::size_t n, int) override { if (n) std::memmove(dst, src, n); }
  void memset_zero(void* dst, std::size_t n, int) override { if (n) std::memset(dst, 0, n); }
  void synchronize(int) override {}
};

}  // namespace

DeviceBackend& device_backend(Device d) {
  static CpuBackend cpu;
  if (d.is_cpu()) return cpu;
#if STRIDER_HAS_CUDA
  const int count = cuda_device_count();
  STRIDER_CHECK(count > 0, DeviceError, "device " << d << " requested, but " << cuda_unavailable_reason()
                                                  << "; use device \"cpu\"");
  STRIDER_CHECK(d.index() >= 0 && d.index() < count, DeviceError,
                "device " << d << " does not exist: this machine has " << count
                          << " CUDA device(s), cuda:0 to cuda:" << count - 1);
  return cuda_device_backend();
#else
  STRIDER_THROW(DeviceError, "device " << d << " requested, but " << cuda_unavailable_reason()
                                       << "; use device \"cpu\"");
#endif
}

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = device_backend(device).allocate(nbytes, device.index());
}

Storage::~Storage() {
  if (data_) device_backend(device_).deallocate(data_, nbytes_, device_.index());
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memmove(dst, src, nbytes);
  } else if (src_device.is_cpu()) {
    device_backend(dst_device).copy_from_host(dst, src, nbytes, dst_device.index());
  } else if (dst_device.is_cpu()) {
    device_backend(src_device).copy_to_host(dst, src, nbytes, src_device.index());
  } else if (dst_device == src_device) {
    device_backend(dst_device).copy_on_device(dst, src, nbytes, dst_device.index());
  } else {
    std::vector<unsigned char> staging(nbytes);
    device_backend(src_device).copy_to_host(staging.data(), src, nbytes, src_device.index());
    device_backend(dst_device).copy_from_host(dst, staging.data(), nbytes, dst_device.index());
  }
}

#if !STRIDER_HAS_CUDA
namespace cuda {
MemoryStats memory_stats(int device) {
  STRIDER_THROW(DeviceError, "memory_stats(cuda:" << device << "): " << cuda_unavailable_reason());
}
void reset_peak_memory_stats(int device) {
  STRIDER_THROW(DeviceError, "reset_peak_memory_stats(cuda:" << device << "): " << cuda_unavailable_reason());
}
void empty_cache() {}
void synchronize(int device) {
  STRIDER_THROW(DeviceError, "synchronize(cuda:" << device << "): " << cuda_unavailable_reason());
}
std::size_t allocation_size_class(std::size_t nbytes) { return nbytes; }
}  // namespace cuda

bool cuda_is_available() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_unavailable_reason() {
  return "this build of strider has no CUDA backend (configured without nvcc; rebuild with the CUDA "
         "toolkit, or with -DSTRIDER_CUDA_EMULATION=ON to run the CUDA kernels on the CPU)";
}
#endif

}  // namespace strider
