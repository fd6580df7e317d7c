// Linked instead of gguf_quant.cu when nvcc is not available.
#include "kernels/gguf_quant.h"

namespace st::kernels {

int GgufQuantizeCuda(GgufBlockType, int64_t, int64_t, const float*, const float*, uint8_t*, void*) { return -1; }
bool GgufGpuAvailable(std::string* why) {
  *why = "this build has no CUDA (nvcc was not found when it was configured)";
  return false;
}
int GgufQuantizeOnGpu(GgufBlockType, int64_t, int64_t, const float*, const float*, uint8_t*) { return -1; }

}  // namespace st::kernels
