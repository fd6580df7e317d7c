// Linked instead of kernels/*.cu when nvcc is not available: every CUDA entry
// point reports -1 (no CUDA), so callers fall back to the references / LibTorch.
#include "kernels/axpy.h"
#include "kernels/linear_ce.h"
#include "kernels/lora_linear.h"
#include "kernels/nf4.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace st::kernels {

int AxpyCuda(int64_t, float, const float*, float*, void*) { return -1; }
int RmsNormForwardCuda(int64_t, int64_t, DType, const void*, const void*, float, void*, float*, void*) { return -1; }
int RmsNormBackwardCuda(int64_t, int64_t, DType, const void*, const void*, const void*, const float*, void*, float*,
                        void*) {
  return -1;
}
int RopeCuda(int64_t, int64_t, int64_t, DType, void*, const int64_t*, const float*, bool, void*) { return -1; }
int SwigluForwardCuda(int64_t, DType, const void*, const void*, void*, void*) { return -1; }
int SwigluBackwardCuda(int64_t, DType, const void*, const void*, const void*, void*, void*, void*) { return -1; }
size_t LinearCrossEntropyWorkspaceCuda(const LinearCeShape&, DType) { return 0; }
int LinearCrossEntropyCuda(const LinearCeShape&, DType, const void*, const void*, const int64_t*, int64_t, float,
                           float*, void*, void*, size_t, void*, void*) {
  return -1;
}
size_t LoraLinearWorkspaceCuda(const LoraShape&, DType, float) { return 0; }
int LoraLinearForwardCuda(const LoraShape&, DType, const void*, const void*, const void*, const float*, const float*,
                          float, float, uint64_t, void*, float*, void*, size_t, void*, void*) {
  return -1;
}
int LoraLinearBackwardCuda(const LoraShape&, DType, const void*, const void*, const void*, const float*, const float*,
                           const float*, float, float, uint64_t, void*, float*, float*, void*, size_t, void*, void*) {
  return -1;
}
int Nf4QuantizeCuda(int64_t, DType, const void*, uint8_t*, uint8_t*, float*, float*, float*, void*) { return -1; }
int Nf4DequantizeCuda(int64_t, DType, const uint8_t*, const uint8_t*, const float*, const float*, void*, void*) {
  return -1;
}
int Nf4MatmulCuda(int64_t, int64_t, int64_t, DType, const void*, const uint8_t*, const uint8_t*, const float*,
                  const float*, void*, void*) {
  return -1;
}

}  // namespace st::kernels
