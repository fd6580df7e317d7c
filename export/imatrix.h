// llama.cpp importance matrices ("imatrix"): per weight matrix, the sum over
// calibration tokens of each input column's squared activation, and the token
// count. The quantizers weight their rounding errors by sums / count.
//
// Two file formats, both read and written:
//   GGUF (llama-imatrix's default): general.type = "imatrix", imatrix.datasets
//     (string array), imatrix.chunk_count and imatrix.chunk_size (u32); per
//     matrix the F32 tensors "<name>.in_sum2" (ne = [columns, experts]) and
//     "<name>.counts" (ne = [1, experts]).
//   legacy .dat: i32 entry count; per entry i32 name length, name, i32 ncall,
//     i32 value count, f32 values = sums / tokens * ncall; then i32 chunk count,
//     i32 dataset-name length and the name.
// Followed: tools/imatrix/imatrix.cpp and common/imatrix-loader.cpp of llama.cpp
// (as vendored by llama-cpp-python 0.3.36), and tools/quantize/quantize.cpp for
// how llama-quantize turns an entry into per-column importance.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::exporter {

struct ImatrixEntry {
  std::vector<float> sums;     // columns * experts (experts = counts.size())
  std::vector<int64_t> counts; // tokens per expert (legacy files: {ncall})
};

struct ImportanceMatrix {
  std::map<std::string, ImatrixEntry> entries;  // by GGUF tensor name ("blk.0.attn_q.weight")
  std::vector<std::string> datasets;
  int32_t chunk_count = 0;
  int32_t chunk_size = 0;
  bool legacy = false;

  // Per-column importance for tensor `name` with rows of `ne0` values, as
  // llama-quantize computes it; empty when the matrix has no entry. An entry of
  // another size is an error naming both sizes.
  StatusOr<std::vector<float>> For(const std::string& name, int64_t ne0) const;
};

// Reads either format (GGUF recognised by its magic).
StatusOr<ImportanceMatrix> ReadImatrix(const std::string& path);
Status WriteImatrixGguf(const ImportanceMatrix& m, const std::string& path);
Status WriteImatrixLegacy(const ImportanceMatrix& m, const std::string& path);

}  // namespace st::exporter
