// HDF5 token shards: the format train/ reads and h5py can open without our code.
//
// One shard file, step by step:
//   /input_ids  int32 [N, L]   token ids, N sequences of L = seq_len tokens
//   /loss_mask  uint8 [N, L]   1 where the token is a training target (predicted from
//                              the tokens before it), 0 for prompts, padding, BOS and
//                              a document's first token
//   /position_ids int32 [N, L] (version 2) the token's position in its document: 0
//                              where a packed document starts, so positions restart
//                              and attention stops at document boundaries; padding is
//                              0 (each pad token its own document)
//   root attributes:
//     format          "slicetune-shard"
//     format_version  3 (versions 1 and 2 had no checksum block: readers refuse them
//                     and other versions with a hint to rebuild)
//     seq_len, num_sequences, num_target_tokens, num_real_tokens (int64)
//     tokenizer_sha256 (string), split ("train" | "val"), pad_id (int64)
// Datasets are chunked (up to 64 rows) with shuffle + deflate(4), HDF5 built-ins.
// The file starts with a 512-byte HDF5 user block (HDF5 and h5py skip it) holding
// "slicetune-shard-sha256 <hex>\n": the SHA-256 of every byte after the block.
// ReadShard checks it before HDF5 parses anything, so a damaged or altered shard
// is an error naming the file, not HDF5 decoding corrupt chunks (Debian's HDF5
// overruns its buffers on some: fuzz/asan.supp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::data {

inline constexpr int kShardFormatVersion = 3;

struct ShardData {
  int64_t seq_len = 0;
  std::vector<int32_t> input_ids;  // (N, L) row-major
  std::vector<uint8_t> loss_mask;  // (N, L)
  std::vector<int32_t> position_ids;  // (N, L); empty when writing: 0..L-1 per row
  std::string tokenizer_sha256;
  std::string split = "train";
  int64_t pad_id = 0;
  int64_t num_real_tokens = 0;     // tokens that are not padding
  int64_t num_sequences() const { return seq_len ? (int64_t)input_ids.size() / seq_len : 0; }
  int64_t num_target_tokens() const;
};

// Writes atomically (temporary name, then rename).
Status WriteShard(const std::string& path, const ShardData& shard);
StatusOr<ShardData> ReadShard(const std::string& path);

}  // namespace st::data
