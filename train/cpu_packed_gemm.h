// A frozen float32 weight's products through MKL's packed-matrix API
// (cblas_sgemm_pack / cblas_sgemm_compute, oneMKL developer reference): the
// weight is laid out once in the BLAS's internal panel format, and every product
// after that skips the per-call packing of W that a plain sgemm does. LoRA keeps the
// base frozen for the whole run, so the training loop's x W^T and dy W run on two
// packs made at the first step (each about the weight's size in memory).
//
// The API is MKL's, not BLAS's: it is looked up at run time in the process (LibTorch's
// x86-64 builds link MKL and export it); without it nothing is packed and callers use
// at::mm. A pack is made for one row count, the training micro-batch's, and used only
// for that count (as PyTorch's own mkl_linear does: aten/src/ATen/native/mkldnn/Linear.cpp);
// other row counts (a short last evaluation batch, generation) take at::mm.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

#include <mutex>
#include <optional>

namespace st::train {

class PackedWeight {
 public:
  // Whether this process's BLAS offers the packed API.
  static bool Available();

  // Makes the packs for products with `rows` rows if there are none yet (or the
  // weight was replaced since); a no-op where the API is missing or the weight is
  // not a contiguous float32 CPU tensor.
  void Prepare(const at::Tensor& w, int64_t rows);
  // x (rows, in) -> x W^T (+ bias): undefined unless a pack for x's row count exists.
  at::Tensor Forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) const;
  // dy (rows, out) -> dy W: undefined unless a pack for dy's row count exists. Makes
  // the backward pack at its first use (an evaluation-only run never needs it).
  at::Tensor Backward(const at::Tensor& dy, const at::Tensor& w) const;
  // dx (rows, in) += dy W, on the same pack; false (dx untouched) where Backward
  // would be undefined or dx is not a row-major float32 (rows, in) tensor.
  bool AddBackward(const at::Tensor& dy, const at::Tensor& w, at::Tensor& dx) const;

 private:
  struct Pack {
    at::Tensor buf;  // the BLAS's packed layout, opaque; never copied or moved
    // The weight it was made from: its storage (weakly held, so a storage freed and a
    // new one allocated at the same address do not pass for it), address and version.
    std::optional<c10::weak_intrusive_ptr<c10::StorageImpl>> storage;
    const void* src = nullptr;
    int64_t version = -1, rows = 0;
  };
  static bool SameWeight(const Pack& p, const at::Tensor& w);
  static Pack Made(const at::Tensor& w, int64_t rows, bool transposed);
  static void Multiply(const Pack& p, const at::Tensor& a, int64_t n, float beta, at::Tensor& c);
  // The forward pack for `rows` rows of w (null if there is none), and the backward
  // one (made at its first use); both after dropping packs of a replaced weight.
  const Pack* ForwardPack(int64_t rows, const at::Tensor& w) const;
  const Pack* BackwardPack(int64_t rows, const at::Tensor& w) const;
  // Drops both packs when the weight they were made from is gone or changed.
  void ForgetStale(const at::Tensor& w) const;
  mutable std::mutex mu_;
  mutable Pack fwd_, bwd_;
};

}  // namespace st::train
