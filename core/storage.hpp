// Storage: one reference-counted allocation on one device. Tensors are views into a Storage.
//
// Memory of each device type is managed by a DeviceBackend: the CPU's (64-byte aligned
// allocations, memcpy) and, in CUDA builds, the CUDA device's caching allocator (core/cuda/).
#pragma once

#include <cstddef>
#include <memory>

#include <strider/core/device.hpp>

namespace strider {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual void* allocate(std::size_t nbytes, int index) = 0;
  virtual void deallocate(void* ptr, std::size_t nbytes, int index) = 0;
  // Copies between this device's memory and the host. Synchronous with respect to the host.
  virtual void copy_from_host(void* dst, const void* src, std::size_t nbytes, int index) = 0;
  virtual void copy_to_host(void* dst, const void* src, std::size_t nbytes, int index) = 0;
  virtual void copy_on_device(void* dst, const void* src, std::size_t nbytes, int index) = 0;
  virtual void memset_zero(void* dst, std::size_t nbytes, int index) = 0;
  virtual void synchronize(int index) = 0;
};

// The backend that owns memory of `d`'s type; throws DeviceError (with the reason) for a CUDA
// device when this build or machine has none, or for an index past the device count.
DeviceBackend& device_backend(Device d);

// Alignment of every CPU allocation (one cache line; AVX-512 loads).
constexpr std::size_t kCpuAlignment = 64;

class Storage {
 public:
  Storage(std::size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
};

using StoragePtr = std::shared_ptr<Storage>;

// Copies nbytes between any two devices (through the host when neither is the CPU).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t nbytes);

}  // namespace strider
