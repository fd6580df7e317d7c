#include "data/shards/packer.h"

#include <algorithm>

namespace st::data {

TokenizedSample MakeSample(int32_t bos, const std::vector<int>& prompt, const std::vector<int>& response, int32_t eos) {
  TokenizedSample s;
  s.ids.reserve(prompt.size() + response.size() + 2);
  if (bos >= 0) {  // models without a BOS token (Qwen) start with the prompt
    s.ids.push_back(bos);
    s.mask.push_back(0);
  }
  for (int t : prompt) {
    s.ids.push_back(t);
    s.mask.push_back(0);
  }
  for (int t : response) {
    s.ids.push_back(t);
    s.mask.push_back(1);
  }
  s.ids.push_back(eos);
  s.mask.push_back(1);
  return s;
}

void RowPacker::PadRow() {
  while ((int64_t)ids_.size() % seq_len_) {
    ids_.push_back(pad_);
    mask_.push_back(0);
    pos_.push_back(0);
    real_.push_back(0);
  }
}

void RowPacker::Add(const TokenizedSample& s) {
  const int64_t n = pack_ ? (int64_t)s.ids.size() : std::min<int64_t>((int64_t)s.ids.size(), seq_len_);
  if (n < (int64_t)s.ids.size()) ++truncated_;
  const size_t at = ids_.size();
  ids_.insert(ids_.end(), s.ids.begin(), s.ids.begin() + n);
  mask_.insert(mask_.end(), s.mask.begin(), s.mask.begin() + n);
  if (n > 0) mask_[at] = 0;
  for (int64_t k = 0; k < n; ++k) pos_.push_back((int32_t)k);
  real_.insert(real_.end(), (size_t)n, 1);
  if (!pack_) PadRow();
}

void RowPacker::Finish() { PadRow(); }

PackedRows RowPacker::Take(int64_t max_rows) {
  PackedRows out;
  out.rows = std::min(max_rows, complete_rows());
  const size_t n = (size_t)(out.rows * seq_len_);
  out.ids.assign(ids_.begin(), ids_.begin() + n);
  out.mask.assign(mask_.begin(), mask_.begin() + n);
  out.pos.assign(pos_.begin(), pos_.begin() + n);
  for (size_t i = 0; i < n; ++i) out.real_tokens += real_[i];
  ids_.erase(ids_.begin(), ids_.begin() + n);
  mask_.erase(mask_.begin(), mask_.begin() + n);
  pos_.erase(pos_.begin(), pos_.begin() + n);
  real_.erase(real_.begin(), real_.begin() + n);
  out.truncated_samples = truncated_;
  return out;
}

PackedRows PackSamples(const std::vector<TokenizedSample>& samples, int64_t seq_len, bool pack, int32_t pad_id) {
  RowPacker p(seq_len, pack, pad_id);
  for (const auto& s : samples) p.Add(s);
  p.Finish();
  return p.Take(p.complete_rows());
}

}  // namespace st::data
