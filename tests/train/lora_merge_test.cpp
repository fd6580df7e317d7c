// Merged-model forward equals base-plus-adapter forward.
#include <gtest/gtest.h>

#include <random>

#include "core/file_io.h"
#include "core/lora_adapter.h"
#include "core/safetensors.h"
#include "export/merge.h"
#include "tests/test_util.h"
#include "train/llama_model.h"
#include "train/trainer.h"

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

TEST(Accumulation, TokenNormalizedMicroBatchesEqualOneBatch) {
  testing::TempDir dir;
  const ModelSpec spec = TinySpec();
  WriteRandomModel(dir / "base", spec);
  auto model = LlamaModel::Load(dir / "base");
  ASSERT_TRUE(model.ok());
  model->AttachLora({"q_proj", "v_proj", "down_proj"}, 4, 8.0, 0.0, 2);
  {
    at::NoGradGuard ng;
    for (auto& p : model->TrainableParameters()) p.normal_(0.0, 0.1);
  }
  // Two micro-batches with very different target counts (3 and 15 of 16 positions).
  at::Tensor ids = at::randint(0, spec.vocab_size, {4, 16}, at::kLong);
  at::Tensor mask = at::zeros({4, 16}, at::kByte);
  mask.narrow(0, 0, 2).narrow(1, 13, 3).fill_(1);
  mask.narrow(0, 1, 1).narrow(1, 13, 3).fill_(0);
  mask.narrow(0, 2, 2).narrow(1, 1, 15).fill_(1);
  mask.narrow(0, 3, 1).fill_(0);
  at::Tensor pos = at::arange(16, at::kLong).repeat({4, 1});
  auto params = model->TrainableParameters();
  auto grads = [&]() {
    std::vector<at::Tensor> g;
    for (auto& p : params) {
      g.push_back(p.grad().clone());
      p.mutable_grad() = at::Tensor();
    }
    return g;
  };
  std::vector<MicroBatch> two = {{ids.narrow(0, 0, 2), mask.narrow(0, 0, 2), pos.narrow(0, 0, 2)},
                                 {ids.narrow(0, 2, 2), mask.narrow(0, 2, 2), pos.narrow(0, 2, 2)}};
  auto [loss2, n2] = AccumulateGradients(*model, two, false);
  auto g2 = grads();
  auto [loss1, n1] = AccumulateGradients(*model, {{ids, mask, pos}}, false);
  auto g1 = grads();
  EXPECT_EQ(n1, 3 + 15);
  EXPECT_EQ(n2, n1);
  EXPECT_NEAR(loss2, loss1, 1e-6 * std::abs(loss1));
  double worst = 0, naive_gap = 0;
  // The mean of per-micro-batch means (what averaging losses would give) differs.
  for (const auto& m : two) {
    auto [l, k] = MaskedNextTokenLoss(model->Forward(m.ids, false, m.pos), m.ids, m.mask);
    (l / 2.0).backward();
  }
  auto gn = grads();
  for (size_t i = 0; i < g1.size(); ++i) {
    worst = std::max(worst, MaxRelErr(g2[i], g1[i]));
    naive_gap = std::max(naive_gap, MaxRelErr(gn[i], g1[i]));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(naive_gap, 1e-2);
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
