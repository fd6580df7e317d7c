// Packing tokenized samples into fixed-length training rows.
//
// A sample is [BOS] prompt response [EOS]; loss_mask marks the response and EOS
// (the prompt and BOS are context only). With pack=true samples are concatenated
// and cut into rows of seq_len tokens (the tail row padded); with pack=false each
// sample gets its own row, truncated or padded. Padding uses pad_id with mask 0.
// Positions restart at 0 with each sample (a sample cut by a row's end continues its
// count in the next row), so training attends within a sample only; a sample's first
// token is never a target (nothing of its own precedes it).
#pragma once

#include <cstdint>
#include <vector>

namespace st::data {

struct TokenizedSample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
};

struct PackedRows {
  std::vector<int32_t> ids;   // (rows, seq_len)
  std::vector<uint8_t> mask;  // (rows, seq_len)
  std::vector<int32_t> pos;   // (rows, seq_len): position in the sample, 0 at its start and on padding
  int64_t rows = 0;
  int64_t real_tokens = 0;
  int64_t truncated_samples = 0;
};

// `bos` < 0: no BOS token.
TokenizedSample MakeSample(int32_t bos, const std::vector<int>& prompt, const std::vector<int>& response, int32_t eos);
PackedRows PackSamples(const std::vector<TokenizedSample>& samples, int64_t seq_len, bool pack, int32_t pad_id);

}  // namespace st::data
