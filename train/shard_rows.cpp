#include "train/shard_rows.h"

#include <vector>

#include "data/shards/manifest.h"
#include "data/shards/shard_io.h"

namespace st::train {

StatusOr<Rows> LoadSplit(const std::string& manifest, const std::string& split) {
  ST_ASSIGN_OR_RETURN(auto files, data::ShardsFromManifest(manifest, split, /*verify_checksums=*/true));
  std::vector<at::Tensor> ids, masks, poss;
  Rows r;
  for (const auto& f : files) {
    ST_ASSIGN_OR_RETURN(data::ShardData s, data::ReadShard(f));
    const int64_t n = s.num_sequences();
    if (n == 0) continue;
    if (!r.tokenizer_sha256.empty() && r.tokenizer_sha256 != s.tokenizer_sha256)
      return InvalidInput(f + ": shards were tokenized with different tokenizers; rebuild with `slicetune data build`");
    r.tokenizer_sha256 = s.tokenizer_sha256;
    r.pad_id = s.pad_id;
    ids.push_back(at::from_blob(s.input_ids.data(), {n, s.seq_len}, at::kInt).to(at::kLong));
    masks.push_back(at::from_blob(s.loss_mask.data(), {n, s.seq_len}, at::kByte).clone());
    poss.push_back(at::from_blob(s.position_ids.data(), {n, s.seq_len}, at::kInt).to(at::kLong));
  }
  if (!ids.empty()) {
    r.ids = at::cat(ids, 0);
    r.mask = at::cat(masks, 0);
    r.pos = at::cat(poss, 0);
  }
  return r;
}

}  // namespace st::train
