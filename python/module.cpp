// The Python module `liednet` (imported as liednet._liednet by the package's
// __init__.py): tensors with the buffer protocol and DLPack, autograd, errors
// as Python exceptions, Ctrl-C at op boundaries. docs/python.md is the guide.
#include <dlpack/dlpack.h>
#include <omp.h>

#include <chrono>
#include <filesystem>

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/profiler.h"
#include "common.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace liednet::python {

namespace {

thread_local bool t_interruptible = false;
thread_local std::chrono::steady_clock::time_point t_next_check;
unsigned long g_main_thread = 0;
// Signals are looked at most this often: each look takes the GIL, which another
// Python thread may hold for up to its switch interval (5 ms).
constexpr std::chrono::milliseconds kCheckInterval{20};

// Set as the op-boundary hook (autograd/profiler.h): on Python's main thread,
// inside a call that released the GIL, a pending SIGINT raises there
// (KeyboardInterrupt once back in Python). Never inside an OpenMP region:
// an exception must not leave one.
void check_signals_at_op_boundary() {
  if (!t_interruptible || omp_in_parallel()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < t_next_check) return;
  t_next_check = now + kCheckInterval;
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

const char* format_of(DType dt) { return dt == DType::F32 ? "f" : "d"; }

std::vector<int64_t> row_major_strides(const Shape& s, int64_t itemsize) {
  std::vector<int64_t> st(s.ndim());
  int64_t acc = itemsize;
  for (int i = s.ndim() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// Storage that keeps a Python object alive (a NumPy array): the reference is
// dropped under the GIL when the last tensor viewing it goes.
std::shared_ptr<Storage> storage_holding(void* data, size_t bytes, PyObject* owner) {
  Py_INCREF(owner);
  return Storage::wrap(data, bytes, Device::CPU, [owner] {
    if (!Py_IsInitialized()) return;  // at interpreter exit: nothing left to free it for
    py::gil_scoped_acquire gil;
    Py_DECREF(owner);
  });
}

Tensor from_numpy(const py::array& a) {
  const py::dtype dt = a.dtype();
  DType d;
  if (dt.is(py::dtype::of<float>())) d = DType::F32;
  else if (dt.is(py::dtype::of<double>())) d = DType::F64;
  else if (dt.kind() == 'f' && dt.itemsize() == 4) d = DType::F32;
  else if (dt.kind() == 'f' && dt.itemsize() == 8) d = DType::F64;
  else throw py::value_error("from_numpy: dtype " + py::str(static_cast<const py::handle&>(dt)).cast<std::string>() + " is not float32 or float64");
  if (a.ndim() > Shape::kMaxDims)
    throw py::value_error("from_numpy: " + std::to_string(a.ndim()) + " dimensions, at most 5");
  if (!(a.flags() & py::array::c_style))
    throw py::value_error("from_numpy: the array is not C-contiguous (np.ascontiguousarray makes a copy that is)");
  if (!a.writeable()) throw py::value_error("from_numpy: the array is read-only");
  std::vector<int64_t> dims(a.shape(), a.shape() + a.ndim());
  Shape shape(dims);
  auto storage = storage_holding(const_cast<void*>(a.data()), shape.numel() * dtype_size(d), a.ptr());
  return TensorImpl::make(storage, shape, d, Device::CPU);
}

// ---- DLPack -----------------------------------------------------------------
struct ExportContext {
  Tensor tensor;
  std::vector<int64_t> shape, strides;  // strides in elements, as DLPack counts them
};

void delete_exported(DLManagedTensor* self) {
  delete static_cast<ExportContext*>(self->manager_ctx);
  delete self;
}

py::capsule to_dlpack(const Tensor& t) {
  auto* ctx = new ExportContext{t.detach(), t.shape().vec(), {}};
  for (int64_t s : row_major_strides(t.shape(), 1)) ctx->strides.push_back(s);
  auto* m = new DLManagedTensor{};
  m->dl_tensor.data = t.raw_data();
  m->dl_tensor.device = {t.device() == Device::CPU ? kDLCPU : kDLCUDA, 0};
  m->dl_tensor.ndim = t.ndim();
  m->dl_tensor.dtype = {kDLFloat, static_cast<uint8_t>(8 * dtype_size(t.dtype())), 1};
  m->dl_tensor.shape = ctx->shape.data();
  m->dl_tensor.strides = ctx->strides.data();
  m->dl_tensor.byte_offset = 0;
  m->manager_ctx = ctx;
  m->deleter = delete_exported;
  PyObject* cap = PyCapsule_New(m, "dltensor", [](PyObject* c) {
    // Never consumed (a consumer renames it "used_dltensor" and owns the tensor).
    if (PyCapsule_IsValid(c, "dltensor")) {
      auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
      if (mt && mt->deleter) mt->deleter(mt);
    }
  });
  if (!cap) {
    delete_exported(m);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

Tensor from_dlpack(const py::object& obj) {
  py::object cap = py::hasattr(obj, "__dlpack__") ? obj.attr("__dlpack__")() : obj;
  if (!PyCapsule_IsValid(cap.ptr(), "dltensor"))
    throw py::value_error("from_dlpack: expected an object with __dlpack__ or an unused 'dltensor' capsule");
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  if (d.dtype.code != kDLFloat || d.dtype.lanes != 1 || (d.dtype.bits != 32 && d.dtype.bits != 64))
    throw py::value_error("from_dlpack: dtype (code " + std::to_string(d.dtype.code) + ", " +
                          std::to_string(d.dtype.bits) + " bits) is not float32 or float64");
  Device dev;
  if (d.device.device_type == kDLCPU) dev = Device::CPU;
#ifdef LIEDNET_HAVE_CUDA
  else if (d.device.device_type == kDLCUDA && d.dtype.bits == 32 && d.device.device_id == 0) dev = Device::CUDA;
#endif
  else
    throw py::value_error("from_dlpack: device type " + std::to_string(d.device.device_type) +
                          " is not one this build can use (the CPU" +
#ifdef LIEDNET_HAVE_CUDA
                          std::string(", or CUDA device 0 in f32)")
#else
                          std::string(")")
#endif
    );
  if (d.ndim > Shape::kMaxDims) throw py::value_error("from_dlpack: " + std::to_string(d.ndim) + " dimensions, at most 5");
  std::vector<int64_t> dims(d.shape, d.shape + d.ndim);
  Shape shape(dims);
  if (d.strides) {
    int64_t expect = 1;
    for (int i = d.ndim - 1; i >= 0; --i) {
      if (dims[i] != 1 && d.strides[i] != expect)
        throw py::value_error("from_dlpack: the tensor is not contiguous (row-major); .contiguous() makes one that is");
      expect *= dims[i];
    }
  }
  const DType dt = d.dtype.bits == 32 ? DType::F32 : DType::F64;
  void* data = static_cast<char*>(d.data) + d.byte_offset;
  PyCapsule_SetName(cap.ptr(), "used_dltensor");  // ours now: the producer's deleter runs when the storage goes
  auto storage = Storage::wrap(data, shape.numel() * dtype_size(dt), dev, [m] {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;  // a producer's deleter may touch Python objects
    if (m->deleter) m->deleter(m);
  });
  return TensorImpl::make(storage, shape, dt, dev);
}

py::object shape_tuple(const Shape& s) {
  py::tuple t(s.ndim());
  for (int i = 0; i < s.ndim(); ++i) t[i] = s[i];
  return t;
}

Shape shape_from(const py::args& args) {
  std::vector<int64_t> dims;
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) {
    for (auto d : args[0]) dims.push_back(d.cast<int64_t>());
  } else {
    for (auto d : args) dims.push_back(d.cast<int64_t>());
  }
  if (dims.size() > Shape::kMaxDims) throw py::value_error("shape: at most 5 dimensions");
  return Shape(dims);
}

struct NoGrad {
  std::unique_ptr<autograd::NoGradGuard> guard;
};

}  // namespace

Released::Released(bool interruptible) : previous_(t_interruptible) {
  t_interruptible = interruptible && PyThread_get_thread_ident() == g_main_thread;
}
Released::~Released() { t_interruptible = previous_; }

DType parse_dtype(const py::object& dtype) {
  if (dtype.is_none()) return DType::F32;
  std::string name;
  if (py::isinstance<py::str>(dtype)) name = dtype.cast<std::string>();
  else name = py::str(static_cast<py::handle>(py::dtype::from_args(dtype))).cast<std::string>();
  if (name == "f32" || name == "float32") return DType::F32;
  if (name == "f64" || name == "float64") return DType::F64;
  throw py::value_error("dtype must be float32 or float64 (f32, f64), got " + name);
}

Tensor copy_from_array(const py::object& obj, const py::object& dtype) {
  py::module_ np = py::module_::import("numpy");
  py::array a = np.attr("asarray")(obj);
  DType dt;
  if (!dtype.is_none()) dt = parse_dtype(dtype);
  else if (py::hasattr(obj, "dtype") && a.dtype().kind() == 'f' && a.dtype().itemsize() == 8) dt = DType::F64;
  else if (a.dtype().kind() == 'f' || a.dtype().kind() == 'i' || a.dtype().kind() == 'u' || a.dtype().kind() == 'b')
    dt = DType::F32;
  else throw py::value_error("tensor: cannot make a tensor of dtype " + py::str(static_cast<py::handle>(a.dtype())).cast<std::string>());
  if (a.ndim() > Shape::kMaxDims) throw py::value_error("tensor: " + std::to_string(a.ndim()) + " dimensions, at most 5");
  // (np.ascontiguousarray would make a 0-d array 1-d.)
  py::array c = np.attr("require")(a, dt == DType::F32 ? "float32" : "float64", "C");
  std::vector<int64_t> dims(c.shape(), c.shape() + c.ndim());
  Tensor t = Tensor::empty(Shape(dims), dt);
  if (t.numel() > 0) std::memcpy(t.raw_data(), c.data(), t.numel() * dtype_size(dt));
  return t;
}

void rethrow_for_path(const std::exception& e, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    PyErr_SetString(PyExc_FileNotFoundError, e.what());
    throw py::error_already_set();
  }
  throw py::value_error(e.what());
}

}  // namespace liednet::python

using namespace liednet;
using namespace liednet::python;

PYBIND11_MODULE(_liednet, m) {
  m.doc() = "liednet: the C++ framework's tensors, ops with gradients, the LIEDNet network, explain and training.";
  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  profiler::set_op_boundary_hook(check_signals_at_op_boundary);
  init_threads_from_env();

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const liednet::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  py::class_<Tensor> t(m, "Tensor", py::buffer_protocol(), R"(A liednet tensor: a contiguous, row-major f32 or f64 array on the CPU (or CUDA) with autograd state.

np.asarray(t) is a view of its memory (no copy, CPU only); the view keeps the tensor alive.
torch.from_dlpack(t) shares its memory too; liednet.from_dlpack(x) and liednet.from_numpy(a) share theirs.
liednet.tensor(data) copies.)");
  t.def(py::init([](const py::object& data, const py::object& dtype, bool requires_grad) {
          Tensor x = copy_from_array(data, dtype);
          if (requires_grad) x.set_requires_grad(true);
          return x;
        }),
        py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
        "A copy of an array-like (see liednet.tensor).")
      .def_buffer([](Tensor& x) -> py::buffer_info {
        if (!x.defined()) throw py::value_error("Tensor: undefined");
        if (x.device() != Device::CPU)
          throw py::value_error("Tensor: the buffer protocol is for CPU tensors; this one is on " +
                                std::string(device_name(x.device())) + " (use DLPack or .to('cpu'))");
        const int64_t item = dtype_size(x.dtype());
        return py::buffer_info(x.raw_data(), item, format_of(x.dtype()), x.ndim(), x.shape().vec(),
                               row_major_strides(x.shape(), item), false);
      })
      .def_property_readonly("shape", [](const Tensor& x) { return shape_tuple(x.shape()); }, "The shape, a tuple.")
      .def_property_readonly("dtype", [](const Tensor& x) { return x.dtype() == DType::F32 ? "float32" : "float64"; },
                             "'float32' or 'float64'.")
      .def_property_readonly("device", [](const Tensor& x) { return device_name(x.device()); }, "'cpu' or 'cuda'.")
      .def_property_readonly("ndim", &Tensor::ndim)
      .def("numel", &Tensor::numel, "The number of elements.")
      .def("__len__", [](const Tensor& x) {
        if (x.ndim() == 0) throw py::type_error("len() of a 0-d tensor");
        return x.size(0);
      })
      .def_property(
          "requires_grad", &Tensor::requires_grad,
          [](Tensor& x, bool on) { x.set_requires_grad(on); }, "Whether autograd records ops on this tensor.")
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property_readonly(
          "grad", [](const Tensor& x) -> std::optional<Tensor> {
            Tensor g = x.grad();
            if (!g.defined()) return std::nullopt;
            return g;
          },
          "The gradient a backward left on this leaf, or None.")
      .def("zero_grad", &Tensor::zero_grad, "Drops the gradient.")
      .def(
          "backward",
          [](const Tensor& x, const std::optional<Tensor>& grad, bool retain_graph) {
            Released r;
            x.backward(opt(grad), retain_graph);
          },
          py::arg("grad") = py::none(), py::arg("retain_graph") = false,
          "Backpropagates from this tensor (one element, or give `grad` of its shape) into the leaves' .grad.")
      .def("detach", &Tensor::detach, "A view of the same memory with no autograd history.")
      .def("clone", &Tensor::clone, "A copy with no autograd history.")
      .def(
          "to", [](const Tensor& x, const py::object& dtype) {
            if (py::isinstance<py::str>(dtype)) {
              std::string s = dtype.cast<std::string>();
              if (s == "cpu") return x.to(Device::CPU);
              if (s == "cuda") return x.to(Device::CUDA);
            }
            return x.to(parse_dtype(dtype));
          },
          py::arg("dtype_or_device"), "A copy in another dtype ('float32', 'float64') or on another device ('cpu', 'cuda').")
      .def("reshape", [](const Tensor& x, const py::args& shape) { return x.reshape(shape_from(shape)); },
           "A view with another shape of the same numel (autograd-aware).")
      .def("item", &Tensor::item, "The value of a one-element tensor.")
      .def("numpy", [](py::object self) { return py::module_::import("numpy").attr("asarray")(self); },
           "A NumPy view of this CPU tensor's memory (no copy).")
      .def("tolist", [](py::object self) { return py::module_::import("numpy").attr("asarray")(self).attr("tolist")(); })
      .def("shares_memory", &Tensor::shares_storage_with, py::arg("other"),
           "Whether the two tensors view the same storage.")
      .def("data_ptr", [](const Tensor& x) { return reinterpret_cast<uintptr_t>(x.raw_data()); })
      .def("__dlpack__", [](const Tensor& x, const py::object& /*stream*/) { return to_dlpack(x); },
           py::arg("stream") = py::none(), "A DLPack capsule sharing this tensor's memory.")
      .def("__dlpack_device__", [](const Tensor& x) {
        return py::make_tuple(x.device() == Device::CPU ? int(kDLCPU) : int(kDLCUDA), 0);
      })
      .def("__repr__", [](const Tensor& x) {
        if (!x.defined()) return std::string("liednet.Tensor(undefined)");
        std::string s = "liednet.Tensor(" + x.str();
        if (x.requires_grad()) s += ", requires_grad=True";
        return s + ")";
      })
      .def("__add__", [](const Tensor& a, const Tensor& b) { Released r; return ops::add(a, b); }, py::is_operator())
      .def("__add__", [](const Tensor& a, double s) { Released r; return ops::add_scalar(a, s); }, py::is_operator())
      .def("__radd__", [](const Tensor& a, double s) { Released r; return ops::add_scalar(a, s); }, py::is_operator())
      .def("__sub__", [](const Tensor& a, const Tensor& b) { Released r; return ops::sub(a, b); }, py::is_operator())
      .def("__sub__", [](const Tensor& a, double s) { Released r; return ops::add_scalar(a, -s); }, py::is_operator())
      .def("__mul__", [](const Tensor& a, const Tensor& b) { Released r; return ops::mul(a, b); }, py::is_operator())
      .def("__mul__", [](const Tensor& a, double s) { Released r; return ops::scale(a, s); }, py::is_operator())
      .def("__rmul__", [](const Tensor& a, double s) { Released r; return ops::scale(a, s); }, py::is_operator())
      .def("__neg__", [](const Tensor& a) { Released r; return ops::scale(a, -1.0); })
      .def("sum", [](const Tensor& a) { Released r; return ops::sum(a); }, "The sum of all elements (shape ()).")
      .def("mean", [](const Tensor& a) { Released r; return ops::mean(a); }, "The mean of all elements (shape ()).");
  py::implicitly_convertible<py::array, Tensor>();

  m.def(
      "tensor",
      [](const py::object& data, const py::object& dtype, bool requires_grad) {
        if (py::isinstance<Tensor>(data)) {
          Tensor x = data.cast<Tensor>();
          Tensor c = dtype.is_none() ? x.clone() : x.to(parse_dtype(dtype));
          if (requires_grad) c.set_requires_grad(true);
          return c;
        }
        Tensor x = copy_from_array(data, dtype);
        if (requires_grad) x.set_requires_grad(true);
        return x;
      },
      py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false,
      R"(A new CPU tensor holding a COPY of `data` (a NumPy array, nested lists, any array-like).

dtype: 'float32' / 'float64' (or NumPy's); by default a float64 array (anything with a dtype: NumPy, torch)
stays float64, and everything else (Python numbers and lists, other dtypes) becomes float32, as in torch.
To share memory instead: liednet.from_numpy(a) or liednet.from_dlpack(x).)");
  m.def("from_numpy", &from_numpy, py::arg("array"),
        R"(A tensor that SHARES the memory of a C-contiguous, writeable float32 or float64 NumPy array.

The tensor keeps the array alive; writes through either are seen by the other.
ValueError for another dtype, a non-contiguous or read-only array, more than 5 dimensions.)");
  m.def("from_dlpack", &from_dlpack, py::arg("x"),
        R"(A tensor sharing the memory of `x`: any object with __dlpack__ (a torch.Tensor, a NumPy array) or a DLPack capsule.

float32/float64, contiguous, on the CPU (or CUDA in a CUDA build); ValueError otherwise. The tensor keeps the producer's memory alive.)");
  m.def("to_dlpack", &to_dlpack, py::arg("tensor"), "A DLPack capsule sharing the tensor's memory (same as t.__dlpack__()).");
  m.def("zeros", [](const py::args& shape, const py::object& dtype) { return Tensor::zeros(shape_from(shape), parse_dtype(dtype)); },
        py::kw_only(), py::arg("dtype") = py::none(), "zeros(*shape, dtype='float32')");
  m.def("ones", [](const py::args& shape, const py::object& dtype) { return Tensor::ones(shape_from(shape), parse_dtype(dtype)); },
        py::kw_only(), py::arg("dtype") = py::none(), "ones(*shape, dtype='float32')");
  m.def(
      "randn",
      [](const py::args& shape, uint64_t seed, const py::object& dtype) {
        Generator gen(seed);
        return Tensor::randn(shape_from(shape), gen, parse_dtype(dtype));
      },
      py::kw_only(), py::arg("seed") = 0, py::arg("dtype") = py::none(),
      "randn(*shape, seed=0, dtype='float32'): standard normal values from liednet's generator (the same as the C++ API's).");

  py::class_<NoGrad>(m, "no_grad", "Context manager: ops inside record no autograd graph (as torch.no_grad()).")
      .def(py::init<>())
      .def("__enter__", [](NoGrad& g) { g.guard = std::make_unique<autograd::NoGradGuard>(); })
      .def("__exit__", [](NoGrad& g, const py::args&) { g.guard.reset(); });
  m.def("grad_enabled", &autograd::grad_enabled, "Whether ops record autograd graphs on this thread.");
  m.def("num_threads", &num_threads, "The CPU threads ops use (LIEDNET_THREADS or OMP_NUM_THREADS).");
  m.def("set_num_threads", &set_num_threads, py::arg("n"));

  py::class_<autograd::GradcheckResult>(m, "GradcheckResult", "The outcome of liednet.gradcheck.")
      .def_readonly("ok", &autograd::GradcheckResult::ok)
      .def_readonly("elements_checked", &autograd::GradcheckResult::elements_checked)
      .def_readonly("max_abs_error", &autograd::GradcheckResult::max_abs_error)
      .def_readonly("max_rel_error", &autograd::GradcheckResult::max_rel_error)
      .def_readonly("worst_ratio", &autograd::GradcheckResult::worst_ratio)
      .def_readonly("first_failure", &autograd::GradcheckResult::first_failure)
      .def("__bool__", [](const autograd::GradcheckResult& r) { return r.ok; })
      .def("__repr__", [](const autograd::GradcheckResult& r) {
        return "GradcheckResult(ok=" + std::string(r.ok ? "True" : "False") + ", elements_checked=" +
               std::to_string(r.elements_checked) + ", max_abs_error=" + std::to_string(r.max_abs_error) +
               (r.first_failure.empty() ? "" : ", first_failure='" + r.first_failure + "'") + ")";
      });
  m.def(
      "gradcheck",
      [](const py::function& fn, const std::vector<Tensor>& inputs, double eps, double atol, double rtol, uint64_t seed) {
        autograd::TensorFn f = [fn](const std::vector<Tensor>& xs) {
          py::tuple args(xs.size());
          for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
          return fn(*args).cast<Tensor>();
        };
        return autograd::gradcheck(f, inputs, {.eps = eps, .atol = atol, .rtol = rtol, .seed = seed});
      },
      py::arg("fn"), py::arg("inputs"), py::arg("eps") = 1e-6, py::arg("atol") = 1e-8, py::arg("rtol") = 1e-6,
      py::arg("seed") = 1,
      R"(The C++ gradcheck: fn(*inputs) -> Tensor; autograd's gradient of sum(fn(...) * g) (g random) against
central differences, for every input that requires grad. Inputs must be float64 CPU tensors. Returns a
GradcheckResult (truthy when every element passes |a - n| <= atol + rtol |n|).)");

  m.def(
      "_cpp_add_seconds",
      [](const Tensor& a, const Tensor& b, int64_t calls) {
        Released r;
        Tensor out;
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < calls; ++i) out = ops::add(a, b);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(calls);
      },
      "Seconds per ops::add(a, b) called from C++ in a loop (to measure the Python call's overhead).");

  py::module_ ops_module = m.def_submodule("ops", "Every op of the framework with its gradient, with the C++ names and argument order.");
  bind_ops(ops_module);
  bind_network(m);
  bind_files(m);
}
