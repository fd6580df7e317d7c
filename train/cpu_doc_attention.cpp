#include "train/cpu_doc_attention.h"

#include <ATen/ops/_scaled_dot_product_flash_attention_for_cpu.h>
#include <ATen/ops/_scaled_dot_product_flash_attention_for_cpu_backward.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "train/cpu_range_attention.h"

namespace st::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

constexpr int64_t kQueryBlock = 128;

// Query blocks as flat (b, i0, i1, s, e) runs: queries [i0, i1) of row b see keys
// within [s, e) only. `extent(query, &first, &end)` gives one query's first key and
// one past its last (query = b * T + i), false when it sees none; then the result
// is empty.
template <typename Extent>
std::vector<int64_t> Spans(int64_t B, int64_t T, Extent&& extent) {
  std::vector<int64_t> spans;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i0 = 0; i0 < T; i0 += kQueryBlock) {
      const int64_t i1 = std::min(T, i0 + kQueryBlock);
      int64_t s = T, e = 0;
      for (int64_t i = i0; i < i1; ++i) {
        int64_t first, end;
        if (!extent(b * T + i, &first, &end)) return {};
        s = std::min(s, first);
        e = std::max(e, end);
      }
      spans.insert(spans.end(), {b, i0, i1, s, e});
    }
  return spans;
}

at::Tensor Part(const at::Tensor& t, int64_t b, int64_t from, int64_t to) {
  return t.narrow(0, b, 1).narrow(2, from, to - from);
}

// The block's mask, additive in the queries' type (0 or -inf), contiguous (the kernel needs it so).
at::Tensor BlockMask(const at::Tensor& mask, const int64_t* span, at::ScalarType type) {
  at::Tensor m = Part(mask, span[0], span[1], span[2]).narrow(3, span[3], span[4] - span[3]);
  return at::zeros(m.sizes(), mask.options().dtype(type)).masked_fill_(m.logical_not(), -std::numeric_limits<double>::infinity());
}

struct DocAttentionFn : torch::autograd::Function<DocAttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor q, at::Tensor k, at::Tensor v, at::Tensor mask,
                            std::vector<int64_t> spans, double scale) {
    at::Tensor out = at::empty_like(q), lse;
    for (size_t n = 0; n < spans.size(); n += 5) {
      const int64_t* sp = &spans[n];
      auto [o, l] = at::_scaled_dot_product_flash_attention_for_cpu(
          Part(q, sp[0], sp[1], sp[2]), Part(k, sp[0], sp[3], sp[4]), Part(v, sp[0], sp[3], sp[4]), 0.0, false,
          BlockMask(mask, sp, q.scalar_type()), scale);
      if (!lse.defined()) lse = at::empty({q.size(0), q.size(1), q.size(2)}, l.options());
      Part(out, sp[0], sp[1], sp[2]).copy_(o);
      lse.narrow(0, sp[0], 1).narrow(2, sp[1], sp[2] - sp[1]).copy_(l);
    }
    ctx->save_for_backward({q, k, v, out, lse, mask});
    ctx->saved_data["spans"] = spans;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto s = ctx->get_saved_variables();
    const at::Tensor &q = s[0], &k = s[1], &v = s[2], &out = s[3], &lse = s[4], &mask = s[5];
    const std::vector<int64_t> spans = ctx->saved_data["spans"].toIntVector();
    const double scale = ctx->saved_data["scale"].toDouble();
    const at::Tensor& dout = grads[0];
    at::Tensor dq = at::empty_like(q);
    at::Tensor dk = at::zeros(k.sizes(), k.options().dtype(at::kFloat)), dv = at::zeros(v.sizes(), v.options().dtype(at::kFloat));
    for (size_t n = 0; n < spans.size(); n += 5) {
      const int64_t* sp = &spans[n];
      auto [gq, gk, gv] = at::_scaled_dot_product_flash_attention_for_cpu_backward(
          Part(dout, sp[0], sp[1], sp[2]), Part(q, sp[0], sp[1], sp[2]), Part(k, sp[0], sp[3], sp[4]),
          Part(v, sp[0], sp[3], sp[4]), Part(out, sp[0], sp[1], sp[2]),
          lse.narrow(0, sp[0], 1).narrow(2, sp[1], sp[2] - sp[1]), 0.0, false, BlockMask(mask, sp, q.scalar_type()),
          scale);
      Part(dq, sp[0], sp[1], sp[2]).copy_(gq);
      Part(dk, sp[0], sp[3], sp[4]).add_(gk);
      Part(dv, sp[0], sp[3], sp[4]).add_(gv);
    }
    return {dq, dk.to(k.scalar_type()), dv.to(v.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor DocAttentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                           double scale) {
  const at::ScalarType type = q.scalar_type();
  const bool types = (type == at::kFloat || type == at::kBFloat16) && k.scalar_type() == type && v.scalar_type() == type;
  if (!q.is_cpu() || !types || q.dim() != 4 || k.sizes() != q.sizes() || v.sizes() != q.sizes() || !mask.defined() ||
      mask.scalar_type() != at::kBool || mask.dim() != 4 || mask.size(0) != q.size(0) || mask.size(1) != 1 ||
      mask.size(2) != q.size(2) || mask.size(3) != q.size(2) || q.size(2) == 0)
    return at::Tensor();
  // One scan of the mask: the key ranges when every query sees one run of keys
  // (the spans then follow from them), else the first and last key of each row.
  const int64_t B = q.size(0), T = q.size(2);
  KeyRanges r;
  const bool runs = KeyRangesFromMask(mask, &r);
  std::vector<int64_t> spans;
  if (runs) {
    spans = Spans(B, T, [&](int64_t row, int64_t* first, int64_t* end) {
      *first = r.lo[row];
      *end = r.hi[row];
      return true;
    });
  } else {
    at::Tensor m = mask.contiguous();
    const auto* p = reinterpret_cast<const unsigned char*>(m.const_data_ptr<bool>());
    spans = Spans(B, T, [&](int64_t row, int64_t* first, int64_t* end) {
      const unsigned char* keys = p + row * T;
      const void* f = std::memchr(keys, 1, T);
      if (!f) return false;
      *first = static_cast<const unsigned char*>(f) - keys;
      *end = static_cast<const unsigned char*>(memrchr(keys, 1, T)) - keys + 1;
      return true;
    });
  }
  if (spans.empty()) return at::Tensor();
  // The cells the other path computes: the key blocks (float32) or, in bf16, sdpa's whole (T, T) per row.
  int64_t cells = B * T * T;
  if (type == at::kFloat) {
    cells = 0;
    for (size_t n = 0; n < spans.size(); n += 5) cells += (spans[n + 2] - spans[n + 1]) * (spans[n + 4] - spans[n + 3]);
  }
  // The key-range kernel costs about twice as much per (query, key) pair as the
  // flash kernel per cell (measured with 64-wide heads: 512-token documents, where
  // the flash path wins, and ~40-token documents, where the key ranges run 2.5x
  // faster), so it runs when the mask leaves fewer than half the cells.
  if (runs && 2 * r.pairs <= cells)
    if (at::Tensor out = RangeAttentionCpu(q, k, v, std::move(r), scale); out.defined()) return out;
  if (type != at::kFloat) return at::Tensor();
  return DocAttentionFn::apply(q, k, v, mask, std::move(spans), scale);
}

}  // namespace st::train
