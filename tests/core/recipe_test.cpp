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


// A `slices:` list: each entry merged over the shared fields, its own output folder.
constexpr const char* kSliced = R"(name: faq
base_model: m
output_dir: runs/faq
data:
  sources: [{path: shared.txt}]
  seq_len: 64
lora: {rank: 8, alpha: 16}
train: {steps: 10, lr: 0.001}
slices:
  - name: hangzhou
    data: {sources: [{path: hz.jsonl, format: instruction}]}
  - name: shanghai
    lora: {rank: 4}
    train: {steps: 20}
)";

TEST(Recipe, SlicesMergeOverTheSharedFields) {
  auto all = ParseRecipes(kSliced, "r.yaml", {}, /*check_files=*/false, "");
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 2u);
  const Recipe& hz = (*all)[0];
  const Recipe& sh = (*all)[1];
  EXPECT_EQ(hz.name, "hangzhou");
  EXPECT_EQ(hz.group, "faq");
  EXPECT_EQ(hz.output_dir, "runs/faq/hangzhou");
  EXPECT_EQ(sh.output_dir, "runs/faq/shanghai");
  ASSERT_EQ(hz.data.sources.size(), 1u);
  EXPECT_EQ(hz.data.sources[0].path, "hz.jsonl");  // lists are replaced
  EXPECT_EQ(hz.data.sources[0].format, "instruction");
  EXPECT_EQ(hz.data.seq_len, 64);                   // mappings merge key by key
  EXPECT_EQ(hz.lora.rank, 8);
  EXPECT_EQ(sh.lora.rank, 4);
  EXPECT_DOUBLE_EQ(sh.lora.alpha, 16);
  EXPECT_EQ(sh.train.steps, 20);
  EXPECT_DOUBLE_EQ(sh.train.lr, 0.001);
  EXPECT_EQ(sh.data.sources[0].path, "shared.txt");
  EXPECT_NE(hz.hash, sh.hash);
  EXPECT_NE(hz.data_hash, sh.data_hash);
  // Overrides reach every slice, over the slice's own values.
  auto set = ParseRecipes(kSliced, "r.yaml", {"train.steps=3"}, false, "");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)[0].train.steps, 3);
  EXPECT_EQ((*set)[1].train.steps, 3);
  // --slice picks one; an unknown one names those there are.
  auto one = ParseRecipes(kSliced, "r.yaml", {}, false, "shanghai");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].name, "shanghai");
  auto none = ParseRecipes(kSliced, "r.yaml", {}, false, "beijing");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("hangzhou, shanghai"), std::string::npos) << none.status().message();
  // A single recipe cannot be asked for several slices.
  auto single = ParseRecipe(kSliced, "r.yaml", {}, false);
  ASSERT_FALSE(single.ok());
  EXPECT_NE(single.status().message().find("--slice"), std::string::npos);
}

TEST(Recipe, SliceErrorsNameTheEntry) {
  const std::string base = std::string(kSliced).substr(0, std::string(kSliced).find("slices:"));
  struct Case {
    std::string slices, want;
  } cases[] = {
      {"slices:\n  - name: a\n    base_model: other\n", "slices[0].base_model: unknown key"},
      {"slices:\n  - name: a\n  - name: a\n", "slice 'a' is named twice"},
      {"slices:\n  - name: a/b\n", "slices[0].name: 'a/b'"},
      {"slices:\n  - {data: {seq_len: 32}}\n", "slices[0].name: missing required key"},
      {"slices:\n  - name: a\n    train: {steps: -1}\n", "(slices[0] 'a')"},
      {"slices: []\n", "slices: expected a non-empty list"},
  };
  for (const auto& c : cases) {
    auto r = ParseRecipes(base + c.slices, "r.yaml", {}, false, "");
    ASSERT_FALSE(r.ok()) << c.slices;
    EXPECT_EQ(r.status().code(), Code::kInvalidInput);
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << r.status().message();
  }
}

// Found by fuzz/fuzz_recipe.cpp: a complex YAML key ("? ...") threw out of the
// parser and aborted the process.
TEST(Recipe, ComplexKeysAndOddStructuresAreErrorsNotCrashes) {
  for (const char* text : {"name: x\n? [a, b]\n: 1\n", "? {a: 1}\n: 2\n", "name: x\ndata:\n  ? [seq_len]\n  : 3\n",
                           "name: [1, 2]\nbase_model: {a: b}\n", "slices: [[1], {? [x]: 1}]\n"}) {
    auto r = ParseRecipes(text, "fuzz.yaml", {}, false, "");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().exit_code(), 2) << text;
    EXPECT_NE(r.status().message().find("fuzz.yaml"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace st
