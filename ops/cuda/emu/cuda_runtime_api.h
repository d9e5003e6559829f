// The emulated CUDA runtime (see cuda_runtime.h).
#pragma once
#include "ops/cuda/emu/cuda_runtime.h"
