// Merged-model forward equals base-plus-adapter forward.
#include <gtest/gtest.h>

#include <random>

#include "core/file_io.h"
#include "core/lora_adapter.h"
#include "core/safetensors.h"
#include "export/merge.h"
#include "tests/test_util.h"
#include "train/llama_model.h"

namespace st::train {
namespace {

ModelSpec TinySpec() {
  auto s = ParseModelSpec(R"({"model_type": "llama", "vocab_size": 97, "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5})", "test");
  return *s;
}

void WriteRandomModel(const std::string& dir, const ModelSpec& s) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 0.1f);
  std::vector<TensorToWrite> ts;
  for (const auto& w : ListWeights(s)) {
    int64_t k = 1;
    for (auto d : w.shape) k *= d;
    std::vector<float> v(k);
    for (auto& x : v) x = w.shape.size() == 1 ? 1.0f + n(rng) : n(rng);
    ts.push_back(MakeF32Tensor(w.hf, w.shape, v));
  }
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", ts).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/config.json", ModelSpecToConfigJson(s)).ok());
}

double MaxRelErr(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(LoraMerge, MergedForwardEqualsBasePlusAdapterForward) {
  testing::TempDir dir;
  const ModelSpec spec = TinySpec();
  WriteRandomModel(dir / "base", spec);
  auto model = LlamaModel::Load(dir / "base");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  model->AttachLora(targets, 4, 8.0, 0.0, 5);
  {
    at::NoGradGuard ng;  // B starts at zero; make the adapter do something
    for (auto& p : model->TrainableParameters()) p.normal_(0.0, 0.2);
  }
  LoraAdapter ad = model->ExportAdapter(targets, 4, 8.0, 0.0);
  ASSERT_TRUE(SaveLoraAdapter(dir / "adapter", ad, spec).ok());
  ASSERT_TRUE(exporter::WriteMergedHfModel(dir / "base", dir / "adapter", dir / "merged").ok());

  at::Tensor ids = at::randint(0, spec.vocab_size, {2, 11}, at::kLong);
  at::NoGradGuard ng;
  at::Tensor with_adapter = model->Forward(ids);
  auto merged = LlamaModel::Load(dir / "merged");
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  at::Tensor merged_out = merged->Forward(ids);
  auto base_only = LlamaModel::Load(dir / "base");
  at::Tensor base_out = base_only->Forward(ids);
  EXPECT_LT(MaxRelErr(merged_out, with_adapter), 1e-5);
  EXPECT_GT(MaxRelErr(base_out, with_adapter), 1e-2);  // the adapter changed the model

  // Reloading the saved adapter into the base gives the same outputs again.
  auto loaded = LoadLoraAdapter(dir / "adapter", spec);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_TRUE(base_only->LoadAdapter(*loaded).ok());
  EXPECT_LT(MaxRelErr(base_only->Forward(ids), with_adapter), 1e-6);
}

TEST(LoraMerge, DoraStartsAtTheBaseAndMergesToItsForward) {
  testing::TempDir dir;
  const ModelSpec spec = TinySpec();
  WriteRandomModel(dir / "base", spec);
  auto model = LlamaModel::Load(dir / "base");
  ASSERT_TRUE(model.ok()) << model.status().message();
  LoraConfig c;
  c.targets = {"q_proj", "v_proj", "down_proj"};
  c.rank = 4;
  c.alpha = 8.0;
  c.dora = true;
  model->AttachLora(c, 3);
  at::Tensor ids = at::randint(0, spec.vocab_size, {2, 9}, at::kLong);
  auto base_only = LlamaModel::Load(dir / "base");
  {
    at::NoGradGuard ng;
    // Fresh DoRA (B = 0, m = ||W||_row) is the base model.
    EXPECT_LT(MaxRelErr(model->Forward(ids), base_only->Forward(ids)), 1e-6);
    for (auto& p : model->TrainableParameters()) p.add_(at::randn_like(p) * 0.1);
  }
  LoraAdapter ad = model->ExportAdapter(c);
  ASSERT_TRUE(SaveLoraAdapter(dir / "adapter", ad, spec).ok());
  ASSERT_TRUE(exporter::WriteMergedHfModel(dir / "base", dir / "adapter", dir / "merged").ok());
  auto merged = LlamaModel::Load(dir / "merged");
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  at::NoGradGuard ng;
  EXPECT_LT(MaxRelErr(merged->Forward(ids), model->Forward(ids)), 1e-5);
  EXPECT_GT(MaxRelErr(base_only->Forward(ids), model->Forward(ids)), 1e-2);
}

TEST(LoraMerge, LossDropsWhenTrainingOnARepeatedSequence) {
  testing::TempDir dir;
  const ModelSpec spec = TinySpec();
  WriteRandomModel(dir / "base", spec);
  auto model = LlamaModel::Load(dir / "base");
  ASSERT_TRUE(model.ok());
  model->AttachLora({"q_proj", "v_proj", "down_proj"}, 4, 8.0, 0.0, 1);
  at::Tensor ids = at::arange(0, 24, at::kLong).remainder(7).view({1, 24});
  at::Tensor mask = at::ones({1, 24}, at::kByte);
  auto params = model->TrainableParameters();
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    auto [loss, n] = MaskedNextTokenLoss(model->Forward(ids, true), ids, mask);
    EXPECT_EQ(n, 23);
    loss.backward();
    {
      at::NoGradGuard ng;
      for (auto& p : params) {
        p.sub_(p.grad() * 0.5);
        p.mutable_grad() = at::Tensor();
      }
    }
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.8) << first << " -> " << last;
}

}  // namespace
}  // namespace st::train
