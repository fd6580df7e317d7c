#include "data/shards/inspect.h"

#include <filesystem>
#include <sstream>

#include "core/file_io.h"
#include "core/json_io.h"
#include "data/shards/manifest.h"
#include "data/shards/shard_io.h"
#include "data/tokenize/tokenizer.h"

namespace st::data {
namespace fs = std::filesystem;

namespace {

// Decodes one row, wrapping the runs of trained tokens (mask 1) in ⟦ ⟧ and
// dropping trailing padding.
std::string MarkRow(const Tokenizer& tok, const int32_t* ids, const uint8_t* mask, int64_t len, int64_t pad_id) {
  int64_t end = len;
  while (end > 0 && ids[end - 1] == pad_id && mask[end - 1] == 0) --end;
  std::string out;
  std::vector<int> run;
  int cur = -1;
  auto flush = [&] {
    if (run.empty()) return;
    const std::string text = tok.Decode(run);
    out += cur == 1 ? "\u27e6" + text + "\u27e7" : text;
    run.clear();
  };
  for (int64_t i = 0; i < end; ++i) {
    const int m = mask[i] ? 1 : 0;
    if (m != cur) {
      flush();
      cur = m;
    }
    run.push_back(ids[i]);
  }
  flush();
  return out;
}

}  // namespace

StatusOr<std::string> DescribeShards(const std::string& path, const InspectOptions& o) {
  const std::string manifest_path = fs::is_directory(path) ? (fs::path(path) / "manifest.json").string() : path;
  ST_ASSIGN_OR_RETURN(nlohmann::json m, ReadJsonFile(manifest_path));
  if (m.value("format", "") != "slicetune-manifest")
    return InvalidInput(manifest_path + ": not a slicetune manifest; HINT: pass the shards folder `slicetune data build` wrote");
  std::ostringstream s;
  s << "shards: " << manifest_path << "\n  recipe " << m.value("recipe", "?") << ", seq_len " << m.value("seq_len", 0)
    << ", pack " << (m.value("pack", false) ? "yes" : "no") << "\n  tokenizer " << m.value("tokenizer", "?") << " (sha256 "
    << m.value("tokenizer_sha256", "").substr(0, 12) << ")\n\ninputs:\n";
  const nlohmann::json inputs = m.value("inputs", nlohmann::json::array());
  const nlohmann::json shards = m.value("shards", nlohmann::json::array());
  for (const auto& in : inputs)
    s << "  " << in.value("path", "?") << "  " << in.value("format", "?") << ", " << in.value("documents", 0) << " documents, "
      << in.value("bytes", 0) << " bytes\n";
  s << "\nshards:\n";
  for (const auto& sh : shards)
    s << "  " << sh.value("file", "?") << "  " << sh.value("split", "?") << ", " << sh.value("sequences", 0) << " sequences, "
      << sh.value("target_tokens", 0) << " target tokens\n";
  const std::string report_path = (fs::path(manifest_path).parent_path() / "data_report.json").string();
  if (PathExists(report_path)) {
    ST_ASSIGN_OR_RETURN(nlohmann::json r, ReadJsonFile(report_path));
    s << "\nreport: " << r.value("documents", 0) << " documents (" << r.value("train_documents", 0) << " train, "
      << r.value("val_documents", 0) << " val), padding " << 100.0 * r.value("padding_ratio", 0.0) << "%, "
      << r.value("truncated_samples", 0) << " truncated samples\n  sample lengths (tokens):";
    const nlohmann::json hist = r.value("sample_length_histogram", nlohmann::json::object());
    for (auto it = hist.begin(); it != hist.end(); ++it) s << " " << it.key() << ":" << it.value().get<int64_t>();
    s << "\n";
  }
  if (o.samples <= 0) return s.str();

  const std::string model_dir = !o.model_dir.empty() ? o.model_dir : fs::path(m.value("tokenizer", "")).parent_path().string();
  ST_ASSIGN_OR_RETURN(auto tok, LoadTokenizer(model_dir));
  if (tok->sha256() != m.value("tokenizer_sha256", ""))
    s << "\nWARNING: " << tok->path() << " is not the tokenizer these shards were built with; the text below is garbled\n";
  ST_ASSIGN_OR_RETURN(auto files, ShardsFromManifest(manifest_path, o.split, /*verify_checksums=*/false));
  s << "\n" << o.split << " samples (trained tokens in \u27e6 \u27e7):\n";
  int shown = 0;
  for (const auto& f : files) {
    ST_ASSIGN_OR_RETURN(ShardData sd, ReadShard(f));
    for (int64_t r = 0; r < sd.num_sequences() && shown < o.samples; ++r, ++shown) {
      const int64_t off = r * sd.seq_len;
      s << "--- " << fs::path(f).filename().string() << " row " << r << "\n"
        << MarkRow(*tok, sd.input_ids.data() + off, sd.loss_mask.data() + off, sd.seq_len, sd.pad_id) << "\n";
    }
    if (shown >= o.samples) break;
  }
  return s.str();
}

}  // namespace st::data
