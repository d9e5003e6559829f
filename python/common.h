// Shared by the Python module's translation units (python/*.cpp).
#pragma once

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "tensor/tensor.h"

namespace py = pybind11;

namespace liednet::python {

// Around a long C++ call: releases the GIL and, on the thread that holds
// Python's main thread, lets the op-boundary hook turn a pending Ctrl-C into
// KeyboardInterrupt (module.cpp). Not interruptible: training, which has its
// own SIGINT handling (a checkpoint at the next step).
class Released {
 public:
  explicit Released(bool interruptible = true);
  ~Released();
  Released(const Released&) = delete;
  Released& operator=(const Released&) = delete;

 private:
  bool previous_;
  py::gil_scoped_release release_;
};

// None -> an undefined Tensor (the C++ API's "optional input").
inline Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }
DType parse_dtype(const py::object& dtype);  // "f32", "float32", numpy.float32, numpy.dtype, ...
// A Tensor that is a copy of any array-like (NumPy, nested lists, buffers).
Tensor copy_from_array(const py::object& obj, const py::object& dtype);
// The exception a liednet error about `path` becomes: FileNotFoundError when
// the path does not exist, ValueError otherwise; the message is unchanged.
[[noreturn]] void rethrow_for_path(const std::exception& e, const std::string& path);

void bind_ops(py::module_& m);
void bind_network(py::module_& m);
void bind_files(py::module_& m);

}  // namespace liednet::python
