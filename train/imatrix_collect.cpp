#include "train/imatrix_collect.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <filesystem>
#include <map>
#include <thread>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/model_spec.h"
#include "export/imatrix.h"
#include "train/llama_model.h"
#include "train/shard_rows.h"

namespace st::train {
namespace fs = std::filesystem;

StatusOr<ImatrixSummary> CollectImatrix(const ImatrixJob& job) {
  at::set_num_threads((int)std::max(1u, std::thread::hardware_concurrency()));
  const std::string manifest = (fs::path(job.shards_dir) / "manifest.json").string();
  if (!PathExists(manifest))
    return InvalidInput(manifest + " not found; HINT: build calibration shards with `slicetune data build RECIPE`");
  ST_ASSIGN_OR_RETURN(Rows rows, LoadSplit(manifest, job.split));
  if (!rows.ids.defined()) return InvalidInput(manifest + ": no '" + job.split + "' sequences to calibrate on");
  const std::string tok_path = TokenizerFile(job.model_dir);
  if (!tok_path.empty()) {
    ST_ASSIGN_OR_RETURN(std::string tok_sha, Sha256File(tok_path));
    if (tok_sha != rows.tokenizer_sha256)
      return InvalidInput(manifest + ": shards were built with another tokenizer than " + tok_path +
                          "; calibration data must be tokenized for the model being quantized");
  }
  ST_ASSIGN_OR_RETURN(LlamaModel model, LlamaModel::Load(job.model_dir));
  if (at::max(rows.ids).item<int64_t>() >= model.spec().vocab_size)
    return InvalidInput(manifest + ": shards hold token ids beyond the model's vocab_size");
  if (!job.adapter_dir.empty()) ST_RETURN_IF_ERROR(model.LoadAdapterDir(job.adapter_dir, job.model_dir));
  std::map<std::pair<int, std::string>, std::string> gguf_name;
  for (const auto& w : ListWeights(model.spec()))
    if (!w.module.empty()) gguf_name[{w.layer, w.module}] = w.gguf;

  // Sums in float64 while collecting; the file holds float32 as llama.cpp's does.
  std::map<std::string, at::Tensor> sums;
  std::map<std::string, int64_t> counts;
  at::Tensor keep;  // (B*T,) bool: the real tokens of the current batch
  int64_t kept = 0;
  model.SetInputObserver([&](int layer, const std::string& module, const at::Tensor& x) {
    const std::string& name = gguf_name[{layer, module}];
    at::Tensor flat = x.reshape({-1, x.size(-1)}).index({keep}).to(at::kDouble);
    at::Tensor s = (flat * flat).sum(0);
    auto it = sums.find(name);
    if (it == sums.end()) sums.emplace(name, s);
    else it->second.add_(s);
    counts[name] += kept;
  });
  at::NoGradGuard ng;
  ImatrixSummary sum;
  int64_t n = rows.ids.size(0);
  if (job.max_rows > 0) n = std::min(n, job.max_rows);
  for (int64_t r0 = 0; r0 < n; r0 += job.batch) {
    const int64_t b = std::min(job.batch, n - r0);
    at::Tensor ids = rows.ids.narrow(0, r0, b), pos = rows.pos.narrow(0, r0, b);
    // Padding is the pad id standing alone as its own document (position 0).
    keep = ids.ne(rows.pad_id).logical_or(pos.ne(0)).reshape({-1});
    kept = keep.sum().item<int64_t>();
    if (kept == 0) continue;
    model.Forward(ids, /*training=*/false, pos);
    sum.rows += b;
    sum.tokens += kept;
  }
  model.SetInputObserver(nullptr);
  if (sum.tokens == 0) return InvalidInput(manifest + ": the calibration rows hold only padding");

  exporter::ImportanceMatrix im;
  im.datasets = {fs::absolute(job.shards_dir).lexically_normal().string()};
  im.chunk_size = (int32_t)rows.ids.size(1);
  im.chunk_count = (int32_t)sum.rows;
  for (auto& [name, s] : sums) {
    at::Tensor f = s.to(at::kFloat).contiguous();
    exporter::ImatrixEntry e;
    e.sums.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
    e.counts = {counts[name]};
    im.entries.emplace(name, std::move(e));
  }
  sum.matrices = (int64_t)im.entries.size();
  const bool legacy = fs::path(job.out).extension() == ".dat";
  ST_RETURN_IF_ERROR(legacy ? exporter::WriteImatrixLegacy(im, job.out) : exporter::WriteImatrixGguf(im, job.out));
  return sum;
}

}  // namespace st::train
