// The CUDA kernel tables, one per op file (ops/cuda/<op>.h beside
// ops/cuda/<op>.cu). Every build has them; in a CUDA build each .cu file's
// register_<op>_kernels fills its table once, on first use. Without CUDA the
// tables stay empty, which is never observed: CUDA tensors cannot be created
// then.
#include <mutex>

#include "ops/cuda/activation.h"
#include "ops/cuda/channels.h"
#include "ops/cuda/conv2d.h"
#include "ops/cuda/elementwise.h"
#include "ops/cuda/gemm.h"
#include "ops/cuda/layernorm.h"
#include "ops/cuda/loss.h"
#include "ops/cuda/optim.h"
#include "ops/cuda/pad.h"
#include "ops/cuda/pool.h"
#include "ops/cuda/reduce.h"
#include "ops/cuda/resize.h"
#include "ops/cuda/selective_scan.h"
#include "ops/cuda/shuffle.h"
#include "ops/cuda/ss2d_scan.h"

namespace liednet::ops::cuda {

namespace {
struct Tables {
  ActivationKernels activation;
  ChannelsKernels channels;
  Conv2dKernels conv2d;
  ElementwiseKernels elementwise;
  GemmKernels gemm;
  LayerNormKernels layernorm;
  LossKernels loss;
  OptimKernels optim;
  PadKernels pad;
  PoolKernels pool;
  ReduceKernels reduce;
  ResizeKernels resize;
  SelectiveScanKernels selective_scan;
  ShuffleKernels shuffle;
  SS2DScanKernels ss2d_scan;
};

Tables& tables() {
  static Tables t;
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef LIEDNET_HAVE_CUDA
    register_activation_kernels(t.activation);
    register_channels_kernels(t.channels);
    register_conv2d_kernels(t.conv2d);
    register_elementwise_kernels(t.elementwise);
    register_gemm_kernels(t.gemm);
    register_layernorm_kernels(t.layernorm);
    register_loss_kernels(t.loss);
    register_optim_kernels(t.optim);
    register_pad_kernels(t.pad);
    register_pool_kernels(t.pool);
    register_reduce_kernels(t.reduce);
    register_resize_kernels(t.resize);
    register_selective_scan_kernels(t.selective_scan);
    register_shuffle_kernels(t.shuffle);
    register_ss2d_scan_kernels(t.ss2d_scan);
#endif
  });
  return t;
}
}  // namespace

const ActivationKernels& activation_kernels() { return tables().activation; }
const ChannelsKernels& channels_kernels() { return tables().channels; }
const Conv2dKernels& conv2d_kernels() { return tables().conv2d; }
const ElementwiseKernels& elementwise_kernels() { return tables().elementwise; }
const GemmKernels& gemm_kernels() { return tables().gemm; }
const LayerNormKernels& layernorm_kernels() { return tables().layernorm; }
const LossKernels& loss_kernels() { return tables().loss; }
const OptimKernels& optim_kernels() { return tables().optim; }
const PadKernels& pad_kernels() { return tables().pad; }
const PoolKernels& pool_kernels() { return tables().pool; }
const ReduceKernels& reduce_kernels() { return tables().reduce; }
const ResizeKernels& resize_kernels() { return tables().resize; }
const SelectiveScanKernels& selective_scan_kernels() { return tables().selective_scan; }
const ShuffleKernels& shuffle_kernels() { return tables().shuffle; }
const SS2DScanKernels& ss2d_scan_kernels() { return tables().ss2d_scan; }

}  // namespace liednet::ops::cuda
