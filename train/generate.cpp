#include "train/generate.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace st::train {

namespace {

int64_t Pick(const at::Tensor& logits, const GenerateOptions& o, at::Generator& gen) {
  if (o.temperature <= 0) return logits.argmax().item<int64_t>();
  at::Tensor probs = at::softmax(logits.to(at::kDouble) / o.temperature, -1);
  auto [sorted, idx] = probs.sort(-1, /*descending=*/true);
  int64_t keep = sorted.size(0);
  if (o.top_k > 0) keep = std::min(keep, o.top_k);
  if (o.top_p < 1.0) {  // the smallest prefix whose mass reaches top_p
    at::Tensor cum = sorted.cumsum(-1);
    const int64_t n = (cum < o.top_p).sum().item<int64_t>() + 1;
    keep = std::min(keep, n);
  }
  at::Tensor p = sorted.narrow(0, 0, keep);
  const int64_t k = at::multinomial(p / p.sum(), 1, false, gen).item<int64_t>();
  return idx[k].item<int64_t>();
}

}  // namespace

std::vector<int64_t> Generate(const LlamaModel& model, const std::vector<int64_t>& prompt, const GenerateOptions& o) {
  at::NoGradGuard ng;
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  KvCache cache;
  std::vector<int64_t> out;
  // Token ids go to the model's device; each step's last logits come back for the
  // pick (a CPU generator samples, so a seed gives the same reply on any device).
  const at::Device dev = model.device();
  auto last = [](const at::Tensor& l) { return l[0][l.size(1) - 1].to(at::kCPU); };
  at::Tensor logits = last(model.ForwardCached(at::tensor(prompt, at::kLong).view({1, -1}).to(dev), &cache));
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    const int64_t next = Pick(logits, o, gen);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), next) != o.stop_ids.end()) break;
    out.push_back(next);
    if (i + 1 == o.max_new_tokens) break;
    logits = last(model.ForwardCached(at::tensor(std::vector<int64_t>{next}, at::kLong).view({1, 1}).to(dev), &cache));
  }
  return out;
}

}  // namespace st::train
