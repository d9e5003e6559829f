// liednet.LIEDNet, liednet.explain, files, images, metrics and training.
#include <filesystem>

#include "autograd/autograd.h"
#include "common.h"
#include "data/image.h"
#include "data/input_range.h"
#include "data/metrics.h"
#include "liednet/config_infer.h"
#include "liednet/explain.h"
#include "liednet/liednet.h"
#include "nn/state_dict.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"
#include "train/config.h"
#include "train/run.h"

namespace liednet::python {

namespace {

py::array to_numpy_copy(const Tensor& t) {
  Tensor c = t.device() == Device::CPU ? t.detach() : t.to(Device::CPU);
  py::object view = py::module_::import("numpy").attr("asarray")(py::cast(c));
  return view.attr("copy")();
}

Tensor as_tensor(const py::handle& v) {
  if (py::isinstance<Tensor>(v)) return v.cast<Tensor>();
  return copy_from_array(py::reinterpret_borrow<py::object>(v), py::none());
}

// A Python callable that C++ may copy and drop without the GIL (std::function
// copies): the reference is dropped under the GIL.
std::shared_ptr<py::object> hold(const py::object& f) {
  return std::shared_ptr<py::object>(new py::object(f), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
}

// The Python object: the C++ network plus the Python callables of its observers.
struct PyNet {
  std::shared_ptr<net::LIEDNet> net;
  // The range of values the network is fed (data/input_range.h): recorded in
  // the weights' metadata, or [-1, 1] assumed (init, or weights without it).
  data::InputRange range = data::InputRange::Signed;
  std::string range_note = "input range [-1, 1] (a freshly initialised network: LOL-Blur's recipe)";
  py::object observer = py::none(), block_input_observer = py::none();
};

py::dict config_dict(const net::LIEDNetConfig& c) {
  py::dict d;
  d["name"] = c.name;
  d["dim"] = c.dim;
  d["blocks"] = py::make_tuple(c.blocks[0], c.blocks[1], c.blocks[2]);
  d["refinement"] = c.refinement;
  return d;
}

net::LocalMambaBlock& find_block(const net::LIEDNet& n, const std::string& name) {
  std::string all;
  for (const auto& [bname, block] : n.named_blocks()) {
    if (bname == name) return *block;
    all += (all.empty() ? "" : ", ") + bname;
  }
  throw py::value_error("no block '" + name + "'; the blocks are " + all);
}

// The input of block `name` when the network runs on image x (no graph
// recorded). Called with the GIL held; the forward runs without it.
Tensor block_input(net::LIEDNet& n, const std::string& name, const Tensor& x) {
  find_block(n, name);
  Tensor input;
  auto saved = n.block_input_observer;
  n.block_input_observer = [&](const std::string& b, const Tensor& v) {
    if (b == name) input = v.detach();
  };
  try {
    Released r;
    autograd::NoGradGuard no_grad;
    n.forward(x);
  } catch (...) {
    n.block_input_observer = saved;
    throw;
  }
  n.block_input_observer = saved;
  return input;
}

}  // namespace

void bind_network(py::module_& m) {
  using py::arg;
  py::class_<PyNet> cls(m, "LIEDNet", R"(The LIEDNet network of the C++ library (the same modules and kernels the CLI runs).

LIEDNet.load(path) reads a safetensors weights file (configuration inferred from its keys, as the CLI does);
LIEDNet.init(preset, seed) makes a freshly initialised one. net(x) with x (N, 3, H, W) in the network's
input range (net.input_range: '-1,1' for LOL-Blur's recipe, '0,1' for the low-light one; read from the
weights' metadata, as the CLI does): net.to_network(image01) and net.from_network(out) map an image in
[0, 1] there and back.)");
  cls.def_static(
         "load",
         [](const std::string& path, const std::string& preset, const py::object& dtype) {
           PyNet p;
           try {
             Released r;
             p.net = net::load_for_inference(path, preset, Device::CPU);
             const data::WeightsRange wr = data::weights_input_range(path);
             p.range = wr.range;
             p.range_note = wr.note;
           } catch (const liednet::Error& e) {
             rethrow_for_path(e, path);
           }
           if (!dtype.is_none()) p.net->to(parse_dtype(dtype));
           return p;
         },
         arg("path"), arg("preset") = "", arg("dtype") = py::none(),
         R"(The network of a safetensors weights file, in eval mode on the CPU.

preset: 'liednet' or 'liednet-l'; empty (the default): inferred from the weights, as `liednet enhance` does.
Every key must match (ValueError naming them otherwise); FileNotFoundError when the file is missing.)")
      .def_static(
          "init",
          [](const std::string& preset, uint64_t seed, std::optional<int64_t> dim,
             std::optional<std::array<int64_t, 3>> blocks, std::optional<int64_t> refinement, const py::object& dtype) {
            net::LIEDNetConfig cfg = net::preset(preset);
            if (dim) cfg.dim = *dim;
            if (blocks) cfg.blocks = *blocks;
            if (refinement) cfg.refinement = *refinement;
            if (cfg.dim < 1 || cfg.blocks[0] < 1 || cfg.blocks[1] < 1 || cfg.blocks[2] < 1 || cfg.refinement < 0)
              throw py::value_error("LIEDNet.init: dim and block counts must be positive");
            Generator gen(seed);
            PyNet p;
            {
              Released r;
              p.net = std::make_shared<net::LIEDNet>(cfg, gen);
            }
            if (!dtype.is_none()) p.net->to(parse_dtype(dtype));
            return p;
          },
          arg("preset") = "liednet", arg("seed") = 0, arg("dim") = py::none(), arg("blocks") = py::none(),
          arg("refinement") = py::none(), arg("dtype") = py::none(),
          R"(A freshly initialised network (the CLI's `liednet init`): preset 'liednet' (dim 32) or 'liednet-l' (dim 64),
seeded; dim, blocks (3 counts) and refinement override the preset (small networks for study and tests).)")
      .def(
          "__call__",
          [](PyNet& p, const Tensor& x, bool side) -> py::object {
            net::LIEDNetOutput o;
            {
              Released r;
              o = p.net->forward(x, side);
            }
            if (side) return py::make_tuple(o.out, o.side);
            return py::cast(o.out);
          },
          arg("x"), arg("side") = false,
          R"(net(x, side=False): x (N, 3, H, W) in [-1, 1] -> the restored image (N, 3, H, W) (not clamped);
with side=True the pair (out, side) where side (N, 3, H/8, W/8) is the low-light side output.
Sides that are not multiples of 8 are padded by reflection and cropped back.)")
      .def(
          "named_parameters",
          [](const PyNet& p) { return p.net->named_parameters(); },
          "[(upstream key, Tensor)]: the parameters themselves (their .grad is the network's), in upstream's order.")
      .def("parameters", [](const PyNet& p) { return p.net->parameters(); })
      .def(
          "named_modules",
          [](const PyNet& p) {
            std::vector<std::pair<std::string, std::string>> out;
            for (const auto& [name, mod] : p.net->named_modules()) out.emplace_back(name, mod->type());
            return out;
          },
          "[(dotted name, module type)] of the network and every module in it.")
      .def(
          "named_blocks",
          [](const PyNet& p) {
            std::vector<std::string> names;
            for (const auto& [name, block] : p.net->named_blocks()) names.push_back(name);
            return names;
          },
          "The Local Mamba Blocks' dotted names, in the order the forward runs them.")
      .def_property_readonly(
          "input_range", [](const PyNet& p) { return data::input_range_text(p.range); },
          "The input range the network is fed: '-1,1' or '0,1' (from the weights' metadata; '-1,1' when absent).")
      .def_property_readonly("input_range_note", [](const PyNet& p) { return p.range_note; },
                             "One line: the input range, and whether the weights recorded it or it is assumed.")
      .def(
          "to_network",
          [](const PyNet& p, const Tensor& image01) {
            Released r;
            return data::to_network_range(image01, p.range);
          },
          arg("image01"), "An image in [0, 1] mapped to the network's input range (net.input_range).")
      .def(
          "from_network",
          [](const PyNet& p, const Tensor& out) {
            Released r;
            return data::from_network_range(out, p.range);
          },
          arg("out"), "The network's output mapped back to [0, 1] (clamped), for net.input_range.")
      .def_property_readonly("parameter_count", [](const PyNet& p) { return p.net->parameter_count(); })
      .def_property_readonly("config", [](const PyNet& p) { return config_dict(p.net->config); },
                             "{'name', 'dim', 'blocks', 'refinement'}")
      .def_property_readonly("dtype", [](const PyNet& p) { return p.net->dtype() == DType::F32 ? "float32" : "float64"; })
      .def("to", [](PyNet& p, const py::object& dtype) { p.net->to(parse_dtype(dtype)); return &p; },
           py::return_value_policy::reference, arg("dtype"), "Converts every parameter to dtype (fresh leaves); returns self.")
      .def("train", [](PyNet& p, bool on) { p.net->train(on); return &p; }, py::return_value_policy::reference,
           arg("on") = true)
      .def("eval", [](PyNet& p) { p.net->eval(); return &p; }, py::return_value_policy::reference)
      .def_property_readonly("training", [](const PyNet& p) { return p.net->training(); })
      .def("zero_grad", [](PyNet& p) { p.net->zero_grad(); })
      .def("set_without_ss2d", [](PyNet& p, bool on) { p.net->set_without_ss2d(on); }, arg("on"),
           "Every block's SS2D output replaced by zeros (the explain ablation), or restored.")
      .def(
          "state_dict",
          [](const PyNet& p) {
            py::dict d;
            for (const auto& [k, v] : nn::state_dict(*p.net)) d[py::str(k)] = to_numpy_copy(v);
            return d;
          },
          "{upstream key: NumPy array}, copies of the parameters' current values.")
      .def(
          "load_state_dict",
          [](PyNet& p, const py::dict& d, bool strict) {
            nn::StateDict sd;
            for (auto [k, v] : d) sd.emplace_back(k.cast<std::string>(), as_tensor(v));
            nn::LoadReport rep = nn::load_state_dict(*p.net, sd, strict, "state dict");
            py::dict r;
            r["missing"] = rep.missing;
            r["unexpected"] = rep.unexpected;
            r["mismatched"] = rep.mismatched;
            r["loaded"] = rep.loaded;
            return r;
          },
          arg("state_dict"), arg("strict") = true,
          R"(Copies the values of {key: array or Tensor} into the parameters. strict: any missing, unexpected or
mis-shaped key is a ValueError naming them all and nothing is loaded. Returns {'missing', 'unexpected',
'mismatched', 'loaded'}.)")
      .def(
          "save",
          [](const PyNet& p, const std::string& path, const std::map<std::string, std::string>& metadata) {
            Released r;
            nn::save_weights(*p.net, path, metadata);
          },
          arg("path"), arg("metadata") = std::map<std::string, std::string>{},
          "Writes the weights as safetensors (written to a temporary name, then renamed), as `liednet train` does.")
      .def_property(
          "observer", [](const PyNet& p) { return p.observer; },
          [](PyNet& p, const py::object& f) {
            p.observer = f;
            if (f.is_none()) {
              p.net->observer = nullptr;
              return;
            }
            auto fn = hold(f);
            p.net->observer = [fn](const std::string& name, const Tensor& value) {
              py::gil_scoped_acquire gil;
              (*fn)(name, value);
            };
          },
          R"(None or a callable f(name, tensor) called after every stage and block with its dotted name and output
('patch_embed', 'encoder_level1.0', ..., 'output'): the observer `liednet explain` uses.)")
      .def_property(
          "block_input_observer", [](const PyNet& p) { return p.block_input_observer; },
          [](PyNet& p, const py::object& f) {
            p.block_input_observer = f;
            if (f.is_none()) {
              p.net->block_input_observer = nullptr;
              return;
            }
            auto fn = hold(f);
            p.net->block_input_observer = [fn](const std::string& name, const Tensor& value) {
              py::gil_scoped_acquire gil;
              (*fn)(name, value);
            };
          },
          "None or a callable f(name, tensor) called before every Local Mamba Block with its dotted name and input.")
      .def(
          "stage_outputs",
          [](PyNet& p, const Tensor& x) {
            std::vector<std::pair<std::string, Tensor>> outs;
            auto saved = p.net->observer;
            p.net->observer = [&](const std::string& name, const Tensor& v) { outs.emplace_back(name, v.detach()); };
            try {
              Released r;
              autograd::NoGradGuard no_grad;
              p.net->forward(x);
            } catch (...) {
              p.net->observer = saved;
              throw;
            }
            p.net->observer = saved;
            py::dict d;
            for (auto& [k, v] : outs) d[py::str(k)] = v;
            return d;
          },
          arg("x"), "{stage or block name: output Tensor} of one forward of x (no graph), in forward order.")
      .def(
          "block_inputs",
          [](PyNet& p, const Tensor& x) {
            std::vector<std::pair<std::string, Tensor>> ins;
            auto saved = p.net->block_input_observer;
            p.net->block_input_observer = [&](const std::string& name, const Tensor& v) {
              ins.emplace_back(name, v.detach());
            };
            try {
              Released r;
              autograd::NoGradGuard no_grad;
              p.net->forward(x);
            } catch (...) {
              p.net->block_input_observer = saved;
              throw;
            }
            p.net->block_input_observer = saved;
            py::dict d;
            for (auto& [k, v] : ins) d[py::str(k)] = v;
            return d;
          },
          arg("x"), "{block name: input Tensor} of one forward of x (no graph), in forward order.")
      .def("__repr__", [](const PyNet& p) {
        const auto& c = p.net->config;
        return "liednet.LIEDNet(" + c.name + ", dim " + std::to_string(c.dim) + ", " +
               std::to_string(p.net->parameter_count()) + " parameters, " + dtype_name(p.net->dtype()) + ")";
      });

  py::module_ ex = m.def_submodule("explain", "The analyses behind `liednet explain`, returning NumPy arrays.");
  ex.def("stages", &net::erf_stages, "The stages whose ERF is computed, in forward order.");
  ex.def(
      "erf",
      [](PyNet& p, const Tensor& x, const std::optional<std::vector<std::string>>& stages, int64_t batch) {
        const auto& all = net::erf_stages();
        if (stages)
          for (const auto& s : *stages)
            if (std::find(all.begin(), all.end(), s) == all.end()) {
              std::string names;
              for (const auto& a : all) names += (names.empty() ? "" : ", ") + a;
              throw py::value_error("explain.erf: no stage '" + s + "'; the stages are " + names);
            }
        std::vector<net::StageERF> erfs;
        {
          Released r;
          erfs = net::effective_receptive_fields(*p.net, x, batch);
        }
        py::dict d;
        for (const auto& e : erfs)
          if (!stages || std::find(stages->begin(), stages->end(), e.stage) != stages->end())
            d[py::str(e.stage)] = to_numpy_copy(e.map);
        return d;
      },
      arg("net"), arg("x"), arg("stages") = py::none(), arg("batch") = 1,
      R"(erf(net, x, stages=None, batch=1) -> {stage: (H, W) float64 array}

The effective receptive field of each stage (all of explain.stages() by default) on images x (N, 3, H, W)
in [-1, 1], H and W multiples of 8: |d(sum_c F[c, h/2, w/2]) / dx| summed over the input channels and
averaged over the images. The parameters' gradients are left alone.)");
  ex.def(
      "mass_radii",
      [](const Tensor& map) {
        auto r = net::mass_radii(map.dtype() == DType::F64 ? map : map.to(DType::F64));
        return py::make_tuple(r[0], r[1], r[2]);
      },
      arg("map"), "The radii (pixels, around (H/2, W/2)) holding 20%, 50% and 90% of an ERF map's mass.");
  ex.def(
      "scan_directions",
      [](PyNet& p, const Tensor& x, const std::string& block) {
        std::array<Tensor, 4> ys;
        Tensor input = block_input(*p.net, block, x);
        {
          Released r;
          ys = net::scan_directions(find_block(*p.net, block), input);
        }
        py::list l;
        for (const auto& y : ys) l.append(to_numpy_copy(y));
        return py::module_::import("numpy").attr("stack")(l);
      },
      arg("net"), arg("x"), arg("block") = "encoder_level1.0",
      R"(scan_directions(net, x, block='encoder_level1.0') -> (4, N, d, h, w) float64 array

The four directions of the block's SS2D (k0 row-major, k1 column-major, k2 and k3 their reverses), each
step's output written back to its pixel, before the merge sums them, when the network runs on x.)");
  ex.def(
      "lfm_channel_weights",
      [](PyNet& p, const Tensor& x, const std::string& block) {
        Tensor w;
        Tensor input = block_input(*p.net, block, x);
        {
          Released r;
          w = net::lfm_channel_weights(find_block(*p.net, block), input);
        }
        return to_numpy_copy(w);
      },
      arg("net"), arg("x"), arg("block") = "encoder_level1.0",
      "lfm_channel_weights(net, x, block='encoder_level1.0') -> (N, C) array: the LFM's channel weights (sigmoid output).");
}

void bind_files(py::module_& m) {
  using py::arg;
  m.def(
      "load_safetensors",
      [](const std::string& path) {
        SafetensorsContents c;
        try {
          Released r;
          c = load_safetensors(path);
        } catch (const liednet::Error& e) {
          rethrow_for_path(e, path);
        }
        py::dict d;
        for (auto& [k, v] : c.tensors) d[py::str(k)] = v;
        return py::make_tuple(d, c.metadata);
      },
      arg("path"), "load_safetensors(path) -> ({name: Tensor}, {metadata key: value}); F16/BF16 become float32.");
  m.def(
      "save_safetensors",
      [](const std::string& path, const py::dict& tensors, const std::map<std::string, std::string>& metadata) {
        std::vector<std::pair<std::string, Tensor>> ts;
        for (auto [k, v] : tensors) ts.emplace_back(k.cast<std::string>(), as_tensor(v));
        Released r;
        save_safetensors(path, ts, metadata);
      },
      arg("path"), arg("tensors"), arg("metadata") = std::map<std::string, std::string>{},
      "save_safetensors(path, {name: Tensor or array}, metadata={}): written to a temporary name, then renamed.");
  m.def(
      "read_image",
      [](const std::string& path) {
        try {
          Released r;
          return data::read_image(path);
        } catch (const liednet::Error& e) {
          rethrow_for_path(e, path);
        }
      },
      arg("path"), "read_image(path) -> (3, H, W) float32 in [0, 1] (PNG, JPEG, BMP; told by the bytes).");
  m.def(
      "write_png",
      [](const std::string& path, const Tensor& image) {
        Released r;
        data::write_png(path, image);
      },
      arg("path"), arg("image"), "write_png(path, image): (3, H, W) in [0, 1] (clamped) to an 8-bit RGB PNG, atomically.");
  m.def("to_model_range", [](const Tensor& t) { Released r; return data::to_model_range(t); }, arg("image01"), "[0, 1] -> [-1, 1] (the network's range).");
  m.def("to_unit_range", [](const Tensor& t) { Released r; return data::to_unit_range(t); }, arg("model"), "[-1, 1] -> [0, 1], clamped.");
  m.def("psnr", [](const Tensor& a, const Tensor& b, int crop) { Released r; return data::psnr_basicsr(a, b, crop); }, arg("a"), arg("b"), arg("crop_border") = 0,
        "psnr(a, b, crop_border=0): basicsr's PSNR of two (3, H, W) images in [0, 1], on 8-bit levels (dB).");
  m.def("ssim", [](const Tensor& a, const Tensor& b, int crop) { Released r; return data::ssim_basicsr(a, b, crop); }, arg("a"), arg("b"), arg("crop_border") = 0,
        "ssim(a, b, crop_border=0): basicsr's SSIM (11x11 Gaussian, 8-bit levels, mean over RGB); H, W >= 11.");
  m.def("psnr_paper", [](const Tensor& a, const Tensor& b) { Released r; return data::psnr_paper(a, b); }, arg("a"), arg("b"), "pyiqa's PSNR (RGB as given, no quantisation).");
  m.def(
      "ssim_paper", [](const Tensor& a, const Tensor& b) { Released r; return data::ssim_paper(a, b); }, arg("a"), arg("b"),
      "pyiqa's SSIM on the luma channel (Y = 0.299 R + 0.587 G + 0.114 B).");

  m.def(
      "train",
      [](const std::string& config, const py::object& on_log, const std::string& resume, bool resume_anyway) {
        train::TrainConfig cfg;
        try {
          cfg = train::load_train_config(config);
        } catch (const liednet::Error& e) {
          rethrow_for_path(e, config);
        }
        train::RunOptions opt;
        opt.resume = resume;
        opt.resume_anyway = resume_anyway;
        opt.arguments = {config};
        if (!on_log.is_none()) {
          auto fn = hold(on_log);
          auto loads = hold(py::module_::import("json").attr("loads"));
          opt.on_log = [fn, loads](const std::string& log, const std::string& line) {
            py::gil_scoped_acquire gil;
            py::dict d = (*loads)(line);
            d["log"] = log;
            (*fn)(d);
          };
        }
        int rc;
        {
          Released r(false);  // training stops on SIGINT by itself, at a step boundary, with a checkpoint
          rc = train::run_training(cfg, opt);
        }
        if (rc == 130) {
          PyErr_SetNone(PyExc_KeyboardInterrupt);
          throw py::error_already_set();
        }
        if (rc != 0) throw std::runtime_error("liednet.train: stopped by signal " + std::to_string(rc - 128) +
                                              " after writing a checkpoint");
      },
      arg("config"), arg("on_log") = py::none(), arg("resume") = "", arg("resume_anyway") = false,
      R"(train(config, on_log=None, resume='', resume_anyway=False): `liednet train -opt config`, the same loop.

on_log(dict) is called with every line the run writes to train_log.jsonl (keys iter, lr, l_total, ...,
'log': 'train') or val_log.jsonl (iter, psnr, ssim, images, 'log': 'val'). Output and files are the CLI's.
Ctrl-C (SIGINT) stops after the current step, writes its checkpoint and raises KeyboardInterrupt.)");
}

}  // namespace liednet::python
