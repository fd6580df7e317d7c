#include "core/model_spec.h"

#include <gtest/gtest.h>

namespace st {
namespace {

const char* kConfig = R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5})";

TEST(ModelSpec, ReadsLlamaConfigAndDerivesHeadDim) {
  auto s = ParseModelSpec(kConfig, "config.json");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->head_dim, 16);
  EXPECT_EQ(s->num_kv_heads, 2);
  EXPECT_EQ(s->gguf_arch, "llama");
  EXPECT_TRUE(s->permute_qk_for_gguf);
  auto again = ParseModelSpec(ModelSpecToConfigJson(*s), "round-trip");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->intermediate_size, 128);
}

TEST(ModelSpec, WeightListHasHfAndGgufNamesWithShapes) {
  auto s = *ParseModelSpec(kConfig, "config.json");
  auto w = ListWeights(s);
  ASSERT_EQ(w.size(), 1u + 2u * 9u + 2u);
  EXPECT_EQ(w[0].gguf, "token_embd.weight");
  EXPECT_EQ(w[2].hf, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(w[2].gguf, "blk.0.attn_q.weight");
  EXPECT_EQ(w[3].shape, (std::vector<int64_t>{32, 64}));  // k_proj: kv heads * head_dim
  EXPECT_EQ(w.back().gguf, "output.weight");
  s.tie_word_embeddings = true;
  EXPECT_EQ(ListWeights(s).back().gguf, "output_norm.weight");
}

TEST(ModelSpec, BadConfigsNameTheField) {
  struct Case {
    std::string text, expect;
  } cases[] = {
      {"{", "not valid JSON"},
      {R"({"model_type": "gpt2"})", "model_type 'gpt2' is not supported"},
      {R"({"model_type": "llama", "vocab_size": 10})", "missing field 'hidden_size'"},
      {R"({"model_type": "llama", "vocab_size": "ten", "hidden_size": 8})", "field 'vocab_size': expected a non-negative integer"},
      {R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1,
           "num_attention_heads": 4, "num_key_value_heads": 3})", "must be a multiple"},
      // Found by fuzz_config_json (480 s run): a list of strings threw out of the parser.
      {std::string(kConfig).substr(0, std::string(kConfig).size() - 1) + R"(, "eos_token_id": ["LlamaForCausalLM"]})",
       "field 'eos_token_id': expected a non-negative integer or a list of them, found [\"LlamaForCausalLM\"]"},
      {std::string(kConfig).substr(0, std::string(kConfig).size() - 1) + R"(, "eos_token_id": [2, -1]})",
       "field 'eos_token_id'"},
      // Found by fuzz_config_json (1,800 s run): 6,666,662 layers sized a 2.3 GB weight list.
      {R"({"model_type": "qwen2", "vocab_size": 600, "hidden_size": 128, "intermediate_size": 512,
           "num_hidden_layers": 6666662, "num_attention_heads": 4})",
       "num_hidden_layers is 6666662, more than 4096"},
  };
  for (const auto& c : cases) {
    auto s = ParseModelSpec(c.text, "config.json");
    ASSERT_FALSE(s.ok()) << c.expect;
    EXPECT_EQ(s.status().exit_code(), 2);
    EXPECT_NE(s.status().message().find(c.expect), std::string::npos) << s.status().message();
  }
}

}  // namespace
}  // namespace st
