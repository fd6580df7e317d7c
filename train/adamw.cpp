#include "train/adamw.h"

#include <algorithm>
#include <cmath>

namespace st::train {

AdamW::AdamW(std::vector<at::Tensor> params, double weight_decay, double beta1, double beta2, double eps)
    : params_(std::move(params)), wd_(weight_decay), b1_(beta1), b2_(beta2), eps_(eps) {
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p));
    v_.push_back(at::zeros_like(p));
  }
}

void AdamW::Step(double lr) {
  at::NoGradGuard ng;
  ++t_;
  const double bc1 = 1.0 - std::pow(b1_, (double)t_), bc2 = 1.0 - std::pow(b2_, (double)t_);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const at::Tensor& g = p.grad();
    if (wd_ != 0) p.mul_(1.0 - lr * wd_);
    m_[i].mul_(b1_).add_(g, 1.0 - b1_);
    v_[i].mul_(b2_).addcmul_(g, g, 1.0 - b2_);
    at::Tensor denom = (v_[i] / bc2).sqrt_().add_(eps_);
    p.addcdiv_(m_[i], denom, -lr / bc1);
  }
}

void AdamW::Restore(const std::vector<at::Tensor>& m, const std::vector<at::Tensor>& v, int64_t t) {
  at::NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i].copy_(m[i]);
    v_[i].copy_(v[i]);
  }
  t_ = t;
}

void AdamW::ZeroGrad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

double AdamW::ClipGradNorm(double max_norm) {
  at::NoGradGuard ng;
  double sq = 0;
  for (const auto& p : params_)
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double c = max_norm / (norm + 1e-6);
    for (auto& p : params_)
      if (p.grad().defined()) p.mutable_grad().mul_(c);
  }
  return norm;
}

double ScheduledLr(const std::string& schedule, double base_lr, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return base_lr * (double)step / (double)std::max<int64_t>(1, warmup);
  if (schedule == "constant") return base_lr;
  const double progress = (double)(step - warmup) / (double)std::max<int64_t>(1, total - warmup);
  if (schedule == "linear") return base_lr * std::max(0.0, 1.0 - progress);
  return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));  // cosine
}

}  // namespace st::train
