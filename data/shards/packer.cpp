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

PackedRows PackSamples(const std::vector<TokenizedSample>& samples, int64_t seq_len, bool pack, int32_t pad_id) {
  PackedRows out;
  auto pad_to_row = [&] {
    while ((int64_t)out.ids.size() % seq_len) {
      out.ids.push_back(pad_id);
      out.mask.push_back(0);
      out.pos.push_back(0);
    }
  };
  for (const auto& s : samples) {
    const int64_t n = pack ? (int64_t)s.ids.size() : std::min<int64_t>((int64_t)s.ids.size(), seq_len);
    if (n < (int64_t)s.ids.size()) ++out.truncated_samples;
    const size_t at = out.ids.size();
    out.ids.insert(out.ids.end(), s.ids.begin(), s.ids.begin() + n);
    out.mask.insert(out.mask.end(), s.mask.begin(), s.mask.begin() + n);
    if (n > 0) out.mask[at] = 0;
    for (int64_t k = 0; k < n; ++k) out.pos.push_back((int32_t)k);
    out.real_tokens += n;
    if (!pack) pad_to_row();
  }
  pad_to_row();
  out.rows = (int64_t)out.ids.size() / seq_len;
  return out;
}

}  // namespace st::data
