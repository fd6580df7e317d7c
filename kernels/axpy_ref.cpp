#include "kernels/axpy.h"

namespace st::kernels {

void AxpyRef(int64_t n, float alpha, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace st::kernels
