// GGUF block quantization of float32 rows (Q8_0, Q4_K, Q6_K): the CPU reference
// and the GPU version run the same per-block code (kernels/gguf_kblocks.h), one
// GPU thread per block, so the GPU writes export/quant's bytes (which are
// ggml's), for fast export of large models. `importance` is one value per column
// (an importance matrix row), or null.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace st::kernels {

enum class GgufBlockType : int32_t { kQ8_0 = 0, kQ4_K = 1, kQ6_K = 2 };

// Values per block (32 or 256) and bytes per block.
int64_t GgufBlockValues(GgufBlockType t);
int64_t GgufBlockBytes(GgufBlockType t);

// rows x cols float32 (cols a multiple of GgufBlockValues) into rows * cols /
// values blocks at `out`, row after row.
void GgufQuantizeRef(GgufBlockType t, int64_t rows, int64_t cols, const float* x, const float* importance,
                     uint8_t* out);
// The same on the device (x, importance, out device pointers).
int GgufQuantizeCuda(GgufBlockType t, int64_t rows, int64_t cols, const float* x, const float* importance,
                     uint8_t* out, void* stream);

// For `slicetune export --device cuda` (host buffers in and out). This part is
// built into its own library with the static CUDA runtime, so the export binary
// starts on machines without CUDA and only asks for a GPU when told to.
// Whether a GPU can be used; if not, `why` says so.
bool GgufGpuAvailable(std::string* why);
// Copies x (and importance) to the GPU, quantizes, copies the blocks back to `out`.
int GgufQuantizeOnGpu(GgufBlockType t, int64_t rows, int64_t cols, const float* x, const float* importance,
                      uint8_t* out);

}  // namespace st::kernels
