// Element types and devices. f32 is the working type everywhere; f64 exists on
// the CPU so that gradients can be checked by finite differences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>

#include "tensor/error.h"

namespace liednet {

enum class DType : uint8_t { F32, F64 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 8; }
inline const char* dtype_name(DType t) { return t == DType::F32 ? "f32" : "f64"; }
inline std::ostream& operator<<(std::ostream& o, DType t) { return o << dtype_name(t); }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }

enum class Device : uint8_t { CPU, CUDA };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline std::ostream& operator<<(std::ostream& o, Device d) { return o << device_name(d); }

}  // namespace liednet

// Runs `...` with `T` bound to the C++ type of dtype `dt`:
//   LIEDNET_DISPATCH(x.dtype(), T, relu_forward<T>(...));
#define LIEDNET_DISPATCH(dt, T, ...)                 \
  do {                                               \
    switch (dt) {                                    \
      case ::liednet::DType::F32: {                  \
        using T = float;                             \
        __VA_ARGS__;                                 \
        break;                                       \
      }                                              \
      case ::liednet::DType::F64: {                  \
        using T = double;                            \
        __VA_ARGS__;                                 \
        break;                                       \
      }                                              \
    }                                                \
  } while (0)
