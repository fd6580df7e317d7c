#include <cmath>
#include <cstring>

#include "kernels/rmsnorm.h"

namespace st::kernels {

void RmsNormForwardRef(int64_t rows, int64_t dim, const float* x, const float* w, float eps, float* y, float* rstd) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    double ss = 0;
    for (int64_t j = 0; j < dim; ++j) ss += (double)xr[j] * xr[j];
    const float rs = (float)(1.0 / std::sqrt(ss / (double)dim + eps));
    rstd[r] = rs;
    for (int64_t j = 0; j < dim; ++j) y[r * dim + j] = w[j] * (xr[j] * rs);
  }
}

// y_j = w_j x_j r with r = (m + eps)^(-1/2), m = sum_i x_i^2 / dim.
//   dr/dx_k = -1/2 (m + eps)^(-3/2) * 2 x_k / dim = -r^3 x_k / dim
//   dL/dx_k = sum_j dy_j w_j (delta_jk r + x_j dr/dx_k)
//           = r w_k dy_k - x_k r^3 / dim * sum_j dy_j w_j x_j
//   dL/dw_j = sum over rows of dy_j x_j r
void RmsNormBackwardRef(int64_t rows, int64_t dim, const float* dy, const float* x, const float* w, const float* rstd,
                        float* dx, float* dw) {
  if (dw) std::memset(dw, 0, sizeof(float) * dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * dim, *gr = dy + r * dim;
    const float rs = rstd[r];
    double dot = 0;
    for (int64_t j = 0; j < dim; ++j) dot += (double)gr[j] * w[j] * xr[j];
    const float c = (float)(dot * rs * rs / (double)dim);
    for (int64_t j = 0; j < dim; ++j) {
      dx[r * dim + j] = rs * (w[j] * gr[j] - xr[j] * c);
      if (dw) dw[j] += gr[j] * xr[j] * rs;
    }
  }
}

}  // namespace st::kernels
