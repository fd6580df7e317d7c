// Row-major matrix products through cublasGemmEx for the kernels/*.cu files.
// cuBLAS is column-major: a row-major (M, N) C is a column-major (N, M) C^T, and
// C = op(A) op(B) is C^T = op(B)^T op(A)^T, so the operands swap and keep their
// transpose flags. Leading dimensions are the row-major row lengths. Accumulation
// in float32 (no TF32: float32 products must match the references to ~1e-5).
#pragma once

#include <cublas_v2.h>

#include "kernels/kernel_common.h"

namespace st::kernels::cuda {

inline cudaDataType CudaType(DType t) { return t == DType::kBF16 ? CUDA_R_16BF : CUDA_R_32F; }

// C (M, N) = alpha * op(A) op(B) + beta * C; op(A) is (M, K), op(B) is (K, N).
inline cublasStatus_t Gemm(cublasHandle_t h, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                           const void* A, cudaDataType a_type, int64_t lda, const void* B, cudaDataType b_type,
                           int64_t ldb, float beta, void* C, cudaDataType c_type, int64_t ldc) {
  return cublasGemmEx(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                      (int)K, &alpha, B, b_type, (int)ldb, A, a_type, (int)lda, &beta, C, c_type, (int)ldc,
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

// Maps a cuBLAS failure into the kernels' error convention (a negative number
// distinct from cudaError_t values): -1000 - status.
inline int BlasError(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? 0 : -1000 - (int)s; }

// Bump allocator over a caller's workspace (256-byte aligned slices).
struct Arena {
  char* base;
  size_t size, used = 0;
  template <typename T>
  T* Take(int64_t count) {
    const size_t bytes = ((size_t)count * sizeof(T) + 255) & ~(size_t)255;
    if (used + bytes > size) return nullptr;
    T* p = reinterpret_cast<T*>(base + used);
    used += bytes;
    return p;
  }
};

}  // namespace st::kernels::cuda
