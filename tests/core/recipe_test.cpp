#include "core/recipe.h"

#include <gtest/gtest.h>

namespace st {
namespace {

const char* kRecipe = R"(name: t
base_model: m
output_dir: out
data:
  sources:
    - {path: a.txt, format: text}
  seq_len: 64
lora: {rank: 4, alpha: 8, targets: [q_proj, v_proj]}
train: {steps: 5, lr: 1.0e-3}
)";

TEST(Recipe, ParsesFieldsAndDefaults) {
  auto r = ParseRecipe(kRecipe, "r.yaml", {}, /*check_files=*/false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "t");
  EXPECT_EQ(r->data.seq_len, 64);
  EXPECT_EQ(r->lora.rank, 4);
  EXPECT_EQ(r->lora.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(r->train.steps, 5);
  EXPECT_EQ(r->train.schedule, "cosine");
  EXPECT_EQ(r->hash.size(), 64u);
}

TEST(Recipe, OverridesApplyBeforeValidation) {
  auto r = ParseRecipe(kRecipe, "r.yaml", {"train.steps=9", "lora.rank=2", "export.types=[f32]"}, false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->train.steps, 9);
  EXPECT_EQ(r->lora.rank, 2);
  EXPECT_EQ(r->exp.types, (std::vector<std::string>{"f32"}));
  auto bad = ParseRecipe(kRecipe, "r.yaml", {"train.steps=many"}, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("train.steps"), std::string::npos);
  auto malformed = ParseRecipe(kRecipe, "r.yaml", {"train.steps"}, false);
  EXPECT_NE(malformed.status().message().find("key.path=value"), std::string::npos);
}

TEST(Recipe, DataHashIgnoresTrainingFields) {
  auto a = ParseRecipe(kRecipe, "r.yaml", {}, false);
  auto b = ParseRecipe(kRecipe, "r.yaml", {"train.steps=50"}, false);
  auto c = ParseRecipe(kRecipe, "r.yaml", {"data.seq_len=32"}, false);
  EXPECT_EQ(a->data_hash, b->data_hash);
  EXPECT_NE(a->hash, b->hash);
  EXPECT_NE(a->data_hash, c->data_hash);
}

TEST(Recipe, ErrorsNameTheKeyAndLine) {
  struct Case {
    std::string text, expect;
  } cases[] = {
      {std::string(kRecipe) + "trian: {steps: 3}\n", "r.yaml:10: trian: unknown key"},
      {"name: t\nbase_model: m\noutput_dir: o\ndata:\n  sources: [{path: a, format: txt}]\n", "data.sources[0].format: expected one of"},
      {"name: t\nbase_model: m\noutput_dir: o\ndata:\n  sources: [{path: a}]\n  seq_len: lots\n", "r.yaml:6: data.seq_len: expected an integer"},
      {"name: t\noutput_dir: o\ndata:\n  sources: [{path: a}]\n", "base_model: missing required key"},
      {"name: t\nbase_model: m\noutput_dir: o\ndata:\n  sources: [{path: a}]\nlora: {rank: 0}\n", "lora.rank: value 0 out of range"},
      {"name: [t\n", "not valid YAML"},
  };
  for (const auto& c : cases) {
    auto r = ParseRecipe(c.text, "r.yaml", {}, false);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_EQ(r.status().exit_code(), 2);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
}

TEST(Recipe, MissingSourceFileIsReported) {
  auto r = ParseRecipe(kRecipe, "r.yaml", {}, /*check_files=*/true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'a.txt' not found: expected a file, a directory or a glob"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace st
