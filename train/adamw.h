// AdamW (Loshchilov & Hutter, decoupled weight decay) over a list of ATen
// parameters, plus the learning-rate schedule and gradient clipping.
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + lr * wd * p
// Same update as torch.optim.AdamW with its defaults (betas 0.9/0.999, eps 1e-8).
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <string>
#include <vector>

namespace st::train {

class AdamW {
 public:
  AdamW(std::vector<at::Tensor> params, double weight_decay, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);
  void Step(double lr);
  void ZeroGrad();
  // Scales gradients so their global L2 norm is at most max_norm; returns the norm before clipping.
  double ClipGradNorm(double max_norm);
  int64_t steps() const { return t_; }
  // Moments and step count, for checkpoints.
  const std::vector<at::Tensor>& first_moments() const { return m_; }
  const std::vector<at::Tensor>& second_moments() const { return v_; }
  // Restores a checkpoint's state (same parameter order and shapes; checked by the caller).
  void Restore(const std::vector<at::Tensor>& m, const std::vector<at::Tensor>& v, int64_t t);

 private:
  std::vector<at::Tensor> params_, m_, v_;
  double wd_, b1_, b2_, eps_;
  int64_t t_ = 0;
};

// Learning rate at optimizer step `step` (0-based) of `total`: linear warmup for
// `warmup` steps, then constant, linear to 0, or cosine to 0 (as transformers'
// get_*_schedule_with_warmup).
double ScheduledLr(const std::string& schedule, double base_lr, int64_t step, int64_t warmup, int64_t total);

}  // namespace st::train
