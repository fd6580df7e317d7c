// `slicetune data inspect`: what a shard set holds, in words a person checks
// when a fine-tune behaves oddly: the manifest's inputs and shards, the data
// report (length histogram, padding), and decoded sample rows with the trained
// tokens marked, so a wrong loss mask or template shows at a glance.
#pragma once

#include <string>

#include "core/status.h"

namespace st::data {

struct InspectOptions {
  std::string model_dir;      // tokenizer for decoding; "" = the manifest's tokenizer
  int samples = 3;            // decoded rows to show
  std::string split = "train";
};

// `path` is a shards folder or its manifest.json. Returns the report text.
StatusOr<std::string> DescribeShards(const std::string& path, const InspectOptions& opts);

}  // namespace st::data
