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

// Packing as a stream: samples go in one by one, complete rows come out, so a
// build never holds more than a shard's rows. PackSamples is Add for each sample,
// Finish, Take everything.
class RowPacker {
 public:
  RowPacker(int64_t seq_len, bool pack, int32_t pad_id) : seq_len_(seq_len), pack_(pack), pad_(pad_id) {}
  void Add(const TokenizedSample& s);
  // Pads the last row. Call once, after the last Add.
  void Finish();
  int64_t complete_rows() const { return (int64_t)ids_.size() / seq_len_; }
  // Moves out up to `max_rows` complete rows (real_tokens counts their non-padding
  // tokens; truncated_samples is the packer's running total).
  PackedRows Take(int64_t max_rows);

 private:
  int64_t seq_len_;
  bool pack_;
  int32_t pad_;
  std::vector<int32_t> ids_, pos_;
  std::vector<uint8_t> mask_, real_;
  int64_t truncated_ = 0;
  void PadRow();
};

// `bos` < 0: no BOS token.
TokenizedSample MakeSample(int32_t bos, const std::vector<int>& prompt, const std::vector<int>& response, int32_t eos);
PackedRows PackSamples(const std::vector<TokenizedSample>& samples, int64_t seq_len, bool pack, int32_t pad_id);

}  // namespace st::data
