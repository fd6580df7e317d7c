#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/file_io.h"
#include "core/hash.h"
#include "core/json_io.h"
#include "core/log.h"
#include "core/safetensors.h"

namespace st::train {
namespace fs = std::filesystem;

namespace {

TensorToWrite ToWrite(const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU).contiguous().to(at::kFloat);
  std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
  std::vector<float> v(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return MakeF32Tensor(name, shape, v);
}

// Steps of the complete checkpoints, oldest first.
std::vector<int64_t> ListSteps(const std::string& dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    long long step = 0;
    char tail = 0;
    if (std::sscanf(n.c_str(), "step-%lld%c", &step, &tail) == 1 && PathExists((it->path() / "state.json").string()))
      steps.push_back(step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::string StepDir(const std::string& dir, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld", (long long)step);
  return (fs::path(dir) / name).string();
}

}  // namespace

std::string CheckpointsDir(const std::string& output_dir) { return (fs::path(output_dir) / "checkpoints").string(); }

Status SaveCheckpoint(const std::string& output_dir, const TrainState& s, int64_t keep) {
  const std::string dir = CheckpointsDir(output_dir);
  ST_RETURN_IF_ERROR(MakeDirs(dir));
  AtomicDir out;
  ST_RETURN_IF_ERROR(out.Open(StepDir(dir, s.step)));
  std::vector<TensorToWrite> ts;
  for (size_t i = 0; i < s.params.size(); ++i) {
    ts.push_back(ToWrite("param." + std::to_string(i), s.params[i]));
    ts.push_back(ToWrite("adam_m." + std::to_string(i), s.adam_m[i]));
    ts.push_back(ToWrite("adam_v." + std::to_string(i), s.adam_v[i]));
  }
  TensorToWrite rng;
  rng.name = "torch_rng";
  rng.dtype = DType::kU8;
  at::Tensor r = s.torch_rng.contiguous();
  rng.shape = {r.numel()};
  rng.bytes.assign(r.data_ptr<uint8_t>(), r.data_ptr<uint8_t>() + r.numel());
  ts.push_back(std::move(rng));
  ST_RETURN_IF_ERROR(WriteSafetensors(out / "state.safetensors", ts));
  nlohmann::json j = {{"format", "slicetune-checkpoint"}, {"step", s.step}, {"adam_t", s.adam_t},
                      {"recipe_sha256", s.recipe_sha256}, {"order", s.order}, {"cursor", s.cursor},
                      {"shuffle_rng", s.shuffle_rng}, {"tensors", s.params.size()}, {"log", s.log}};
  const std::string state_json = j.dump() + "\n";
  ST_RETURN_IF_ERROR(WriteFileAtomic(out / "state.json", state_json));
  // SHA256SUMS (the `sha256sum -c` format) is written last: a checkpoint damaged
  // later (a bad disk, a partial copy between machines) is caught on resume.
  ST_ASSIGN_OR_RETURN(std::string tensors_sha, Sha256File(out / "state.safetensors"));
  ST_RETURN_IF_ERROR(WriteFileAtomic(out / "SHA256SUMS", tensors_sha + "  state.safetensors\n" +
                                                            Sha256Hex(state_json) + "  state.json\n"));
  ST_RETURN_IF_ERROR(out.Commit());
  const std::vector<int64_t> steps = ListSteps(dir);
  for (size_t i = 0; i + (size_t)keep < steps.size(); ++i) {
    std::error_code ec;
    fs::remove_all(StepDir(dir, steps[i]), ec);
  }
  return Status::Ok();
}

bool HasCheckpoint(const std::string& output_dir) { return !ListSteps(CheckpointsDir(output_dir)).empty(); }

Status VerifyCheckpoint(const std::string& path) {
  const std::string sums_path = (fs::path(path) / "SHA256SUMS").string();
  if (!PathExists(sums_path))
    return InvalidInput(sums_path + ": missing, so the checkpoint cannot be verified (written by a slicetune "
                        "before checkpoints carried checksums, or damaged)");
  ST_ASSIGN_OR_RETURN(std::string sums, ReadFile(sums_path));
  int checked = 0;
  for (const char* name : {"state.safetensors", "state.json"}) {
    const std::string suffix = std::string("  ") + name + "\n";
    const size_t at = sums.find(suffix);
    if (at == std::string::npos || at < 64 || (at > 64 && sums[at - 65] != '\n'))
      return InvalidInput(sums_path + ": no checksum line for " + name + " (expected '<64 hex digits>  " + name + "')");
    const std::string expected = sums.substr(at - 64, 64);
    const std::string file = (fs::path(path) / name).string();
    ST_ASSIGN_OR_RETURN(std::string found, Sha256File(file));
    if (found != expected)
      return InvalidInput(file + ": checksum mismatch, the checkpoint is damaged (SHA256SUMS says " + expected +
                          ", the file hashes to " + found + ")");
    ++checked;
  }
  return checked == 2 ? Status::Ok() : InvalidInput(sums_path + ": incomplete");
}

namespace {

StatusOr<TrainState> LoadCheckpoint(const std::string& path) {
  ST_RETURN_IF_ERROR(VerifyCheckpoint(path));
  ST_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile((fs::path(path) / "state.json").string()));
  if (j.value("format", "") != "slicetune-checkpoint")
    return InvalidInput(path + "/state.json: not a slicetune checkpoint (format field)");
  TrainState s;
  s.step = j.at("step").get<int64_t>();
  s.adam_t = j.at("adam_t").get<int64_t>();
  s.recipe_sha256 = j.at("recipe_sha256").get<std::string>();
  s.order = j.at("order").get<std::vector<int64_t>>();
  s.cursor = j.at("cursor").get<int64_t>();
  s.shuffle_rng = j.at("shuffle_rng").get<std::string>();
  s.log = j.at("log");
  const size_t n = j.at("tensors").get<size_t>();
  ST_ASSIGN_OR_RETURN(TensorStore store, TensorStore::OpenDir(path, "state"));
  auto load = [&](const std::string& name) -> StatusOr<at::Tensor> {
    const TensorView* t = store.Find(name);
    if (!t) return InvalidInput(path + "/state.safetensors: missing tensor " + name + " (damaged checkpoint)");
    std::vector<float> v;
    ST_RETURN_IF_ERROR(t->ToF32(&v));
    return at::from_blob(v.data(), t->shape, at::kFloat).clone();
  };
  for (size_t i = 0; i < n; ++i) {
    ST_ASSIGN_OR_RETURN(at::Tensor p, load("param." + std::to_string(i)));
    ST_ASSIGN_OR_RETURN(at::Tensor m, load("adam_m." + std::to_string(i)));
    ST_ASSIGN_OR_RETURN(at::Tensor v, load("adam_v." + std::to_string(i)));
    s.params.push_back(p);
    s.adam_m.push_back(m);
    s.adam_v.push_back(v);
  }
  const TensorView* rng = store.Find("torch_rng");
  if (!rng || rng->dtype != DType::kU8) return InvalidInput(path + "/state.safetensors: missing torch_rng (damaged checkpoint)");
  s.torch_rng = at::empty({(int64_t)rng->nbytes}, at::kByte);
  std::memcpy(s.torch_rng.data_ptr<uint8_t>(), rng->data, rng->nbytes);
  return s;
}

}  // namespace

// The newest checkpoint that verifies; a damaged one is named and passed over for
// the one before it (resuming from an older step still ends bit-identical, it only
// repeats steps). When none verifies, the error names every one.
StatusOr<TrainState> LoadLatestCheckpoint(const std::string& output_dir) {
  const std::string dir = CheckpointsDir(output_dir);
  const std::vector<int64_t> steps = ListSteps(dir);
  if (steps.empty()) return InvalidInput(dir + ": no checkpoint to resume from; HINT: run without --resume");
  std::string damaged;
  for (size_t i = steps.size(); i-- > 0;) {
    StatusOr<TrainState> s = LoadCheckpoint(StepDir(dir, steps[i]));
    if (s.ok()) {
      if (!damaged.empty())
        LogWarn("resuming from " + StepDir(dir, steps[i]) + ", the newest checkpoint that verifies; passed over:" +
                damaged);
      return s;
    }
    damaged += "\n  " + s.status().message();
  }
  return InvalidInput(dir + ": no checkpoint verifies, so the run cannot resume:" + damaged +
                      "\nHINT: restore the checkpoints from a copy, or start over without --resume");
}

}  // namespace st::train
