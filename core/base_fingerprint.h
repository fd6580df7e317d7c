// Which base model an adapter belongs to. An adapter applied to other weights
// of the same shapes loads without complaint and produces garbage, so training
// records the base beside the adapter (slicetune_base.json) and merging, export
// and imatrix collection check it.
//
// The record holds a SHA-256 over the architecture fields of config.json and
// every weight's name and shape, plus 32 evenly spaced values from each of up to
// 8 weights (spread over the sorted names). A base matches when the hash is
// equal and every sampled value agrees within 1/128 relative: the same weights
// re-saved as F32, F16 or BF16 match; a different initialisation, another model
// or another size does not. It reads a few pages, not the weights: a guard
// against the wrong base, not a checksum of it.
#pragma once

#include <string>

#include "core/status.h"

namespace st {

inline constexpr char kBaseRecordFile[] = "slicetune_base.json";

// Writes <adapter_dir>/slicetune_base.json describing `model_dir`.
Status RecordAdapterBase(const std::string& adapter_dir, const std::string& model_dir);

// OK when the adapter has no record (trained elsewhere) or its record matches
// `model_dir`; otherwise an error naming both, what differs and what to do.
Status CheckAdapterBase(const std::string& adapter_dir, const std::string& model_dir);

// A cheap identity of a model directory for deciding whether a stage is stale:
// SHA-256 over config.json's bytes and each weight file's name, size and
// modification time (rewritten weights change it; reading them is not needed).
StatusOr<std::string> ModelDirStamp(const std::string& model_dir);

}  // namespace st
