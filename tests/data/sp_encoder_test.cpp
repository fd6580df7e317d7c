// Our sentencepiece BPE encoder (data/tokenize/sp_bpe_encoder.h) against
// libsentencepiece itself: the same ids on real and random text, for models
// trained with different normalizer settings, and on hand-made models that
// reach the corners of the algorithm (pairs with out-of-vocabulary characters,
// score ties, no byte fallback). Models it does not reproduce must be declined.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/tokenize/sp_tokenizer.h"
#include "tests/test_util.h"

namespace st::data {
namespace {

struct Pair {
  std::unique_ptr<SpTokenizer> ours, library;
};

Pair LoadBoth(const std::string& model) {
  Pair p;
  auto a = SpTokenizer::Load(model);
  EXPECT_TRUE(a.ok()) << a.status().message();
  setenv("SLICETUNE_SP_LIBRARY", "1", 1);
  auto b = SpTokenizer::Load(model);
  unsetenv("SLICETUNE_SP_LIBRARY");
  EXPECT_TRUE(b.ok());
  if (a.ok() && b.ok()) p.ours = std::move(*a), p.library = std::move(*b);
  return p;
}

std::vector<std::string> CorpusLines() {
  std::ifstream in(testing::SourceDir() + "/recipes/data/smoke/corpus.txt");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  return lines;
}

// Random text over pieces that stress the normalizer and the merges: runs of
// spaces, tabs and newlines, U+2581 written literally, rare CJK and emoji the
// vocabulary lacks, user-defined symbols, digits, and slices of corpus lines.
std::vector<std::string> RandomTexts(const std::vector<std::string>& corpus, int n, uint32_t seed) {
  const std::vector<std::string> atoms = {" ",  "  ", "   ", "\t", "\n", "\xE2\x96\x81", "a",  "b",   "ab",  "the",
                                          "The", "ing", "1",  "23", "456", "。",  "，", "杭分", "杭州", "分公司",
                                          "<sep>", "[SQL]", "龘", "𠀀", "😀", "é", "e\xCC\x81", "ﬁ", "Ａ", "\x7f"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    const int parts = 1 + rng() % 12;
    for (int k = 0; k < parts; ++k) {
      if (rng() % 3 == 0 && !corpus.empty()) {
        const std::string& l = corpus[rng() % corpus.size()];
        // a whole-character slice: cut at UTF-8 lead bytes only
        size_t a = rng() % l.size(), b = a + rng() % 60;
        while (a < l.size() && (l[a] & 0xC0) == 0x80) ++a;
        while (b < l.size() && (l[b] & 0xC0) == 0x80) ++b;
        s += l.substr(a, std::min(b, l.size()) - a);
      } else {
        s += atoms[rng() % atoms.size()];
      }
    }
    out.push_back(s);
  }
  return out;
}

void ExpectSameIds(const Pair& p, const std::vector<std::string>& texts, const std::string& what) {
  ASSERT_TRUE(p.ours && p.library);
  int differ = 0;
  for (const auto& t : texts) {
    const auto a = p.ours->Encode(t), b = p.library->Encode(t);
    if (a != b && ++differ <= 3) ADD_FAILURE() << what << ": ids differ for \"" << t << "\"";
  }
  EXPECT_EQ(differ, 0) << what << ": " << differ << " of " << texts.size() << " texts";
}

std::string Train(const testing::TempDir& dir, const std::string& name, const std::string& extra) {
  const std::string prefix = dir / name;
  const std::string args = "--input=" + testing::SourceDir() + "/recipes/data/smoke/corpus.txt --model_prefix=" + prefix +
                           " --vocab_size=1200 --character_coverage=0.98 --hard_vocab_limit=false --minloglevel=2"
                           " --num_threads=1 " + extra;
  auto s = sentencepiece::SentencePieceTrainer::Train(args);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return prefix + ".model";
}

TEST(SpEncoder, SameIdsAsLibsentencepieceForTrainedModels) {
  testing::TempDir dir;
  const auto corpus = CorpusLines();
  ASSERT_GT(corpus.size(), 100u);
  const auto random = RandomTexts(corpus, 3000, 7);
  struct Case {
    std::string name, args;
  };
  const std::vector<Case> cases = {
      // Llama / Mistral: identity, dummy prefix, spaces kept, byte fallback, digits split
      {"llama", "--model_type=bpe --normalization_rule_name=identity --byte_fallback=true "
                "--remove_extra_whitespaces=false --split_digits=true"},
      // extra spaces removed, no byte fallback (a run of unknown characters is one <unk>), user-defined symbols
      {"udf", "--model_type=bpe --normalization_rule_name=identity --byte_fallback=false "
              "--user_defined_symbols=杭分,<sep>,[SQL]"},
      // no dummy prefix
      {"noprefix", "--model_type=bpe --normalization_rule_name=identity --byte_fallback=true "
                   "--add_dummy_prefix=false"},
      // pieces that span spaces: no word-by-word encoding; and pieces of spaces only
      {"spans", "--model_type=bpe --normalization_rule_name=identity --byte_fallback=true "
                "--split_by_whitespace=false --remove_extra_whitespaces=false --allow_whitespace_only_pieces=true"},
  };
  for (const auto& c : cases) {
    const Pair p = LoadBoth(Train(dir, c.name, c.args));
    ASSERT_TRUE(p.ours && p.library);
    EXPECT_TRUE(p.ours->uses_own_encoder()) << c.name;
    EXPECT_FALSE(p.library->uses_own_encoder()) << c.name;
    ExpectSameIds(p, corpus, c.name + " corpus");
    ExpectSameIds(p, random, c.name + " random");
    // the corpus as one text: long inputs, many merges in one agenda
    std::string all;
    for (const auto& l : corpus) all += l + "\n";
    ExpectSameIds(p, {all}, c.name + " whole corpus");
    // invalid UTF-8 goes to libsentencepiece, so it agrees trivially, but must not crash or drop text
    ExpectSameIds(p, {"ok \xff\xfe bad", "\xe6\x9d", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80"}, c.name + " bad utf-8");
  }
}

TEST(SpEncoder, ModelFactsAreReadFromTheProto) {
  testing::TempDir dir;
  const std::string path = Train(dir, "facts", "--model_type=bpe --normalization_rule_name=identity --byte_fallback=true "
                                               "--remove_extra_whitespaces=false --add_dummy_prefix=false");
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto f = ReadSpModelFacts(bytes, path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->model_type, 2);
  EXPECT_TRUE(f->byte_fallback);
  EXPECT_EQ(f->normalizer_name, "identity");
  EXPECT_EQ(f->charsmap_bytes, 0u);
  EXPECT_FALSE(f->add_dummy_prefix);
  EXPECT_FALSE(f->remove_extra_whitespaces);
  EXPECT_TRUE(f->escape_whitespaces);
  ASSERT_GT(f->pieces.size(), 259u);
  EXPECT_EQ(f->pieces[0].text, "<unk>");
  EXPECT_EQ(f->pieces[0].type, SpModelFacts::kUnknown);
  EXPECT_EQ(f->pieces[3].text, "<0x00>");
  EXPECT_EQ(f->pieces[3].type, SpModelFacts::kByte);
  // Truncated inside a field (the last byte; inside the first piece): an error
  // naming the file, never a read past the end. (A cut between two fields is a
  // valid shorter message, so the cuts are chosen inside one.)
  for (size_t cut : {bytes.size() - 1, (size_t)3, (size_t)6}) {
    auto bad = ReadSpModelFacts(std::string_view(bytes).substr(0, cut), path);
    ASSERT_FALSE(bad.ok()) << cut;
    EXPECT_NE(bad.status().message().find(path + ": not a valid sentencepiece model"), std::string::npos);
  }
}

TEST(SpEncoder, DeclinesModelsItDoesNotReproduce) {
  testing::TempDir dir;
  // nmt_nfkc maps characters through a precompiled table; unigram is another algorithm
  for (const std::string args : {"--model_type=bpe --normalization_rule_name=nmt_nfkc", "--model_type=unigram"}) {
    const Pair p = LoadBoth(Train(dir, "declined", args));
    ASSERT_TRUE(p.ours);
    EXPECT_FALSE(p.ours->uses_own_encoder()) << args;
    ExpectSameIds(p, CorpusLines(), args);
  }
}

// A ModelProto written by hand (protobuf wire format), for corners a trainer does not produce.
class ProtoWriter {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) b_ += (char)((v & 0x7f) | 0x80), v >>= 7;
    b_ += (char)v;
  }
  void Bytes(int field, const std::string& s) {
    Varint((uint64_t)field << 3 | 2);
    Varint(s.size());
    b_ += s;
  }
  void Int(int field, uint64_t v) {
    Varint((uint64_t)field << 3);
    Varint(v);
  }
  void Float(int field, float f) {
    Varint((uint64_t)field << 3 | 5);
    b_.append((const char*)&f, 4);
  }
  const std::string& str() const { return b_; }

 private:
  std::string b_;
};

std::string HandModel(const std::vector<std::tuple<std::string, float, int>>& pieces, bool byte_fallback,
                      bool remove_extra) {
  ProtoWriter m;
  for (const auto& [text, score, type] : pieces) {
    ProtoWriter p;
    p.Bytes(1, text);
    p.Float(2, score);
    p.Int(3, type);
    m.Bytes(1, p.str());
  }
  ProtoWriter t;
  t.Int(3, 2);  // BPE
  t.Int(35, byte_fallback);
  m.Bytes(2, t.str());
  ProtoWriter n;
  n.Bytes(1, "identity");
  n.Int(3, 1);
  n.Int(4, remove_extra);
  m.Bytes(3, n.str());
  return m.str();
}

TEST(SpEncoder, HandMadeModelsReachTheCorners) {
  testing::TempDir dir;
  // "ab" is a piece while "b" is not: the pair (a, b) must still merge. "cd" and
  // "de" tie on score: the leftmost pair wins. "x" and "y" are unknown. "▁▁"
  // joins a space run.
  std::vector<std::tuple<std::string, float, int>> pieces = {
      {"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}, {"\xE2\x96\x81", -1, 1}, {"a", -2, 1}, {"c", -3, 1},
      {"d", -4, 1},    {"e", -5, 1},  {"ab", -6, 1},  {"cd", -7, 1},           {"de", -7, 1}, {"\xE2\x96\x81" "ab", -8, 1},
      {"abab", -10, 1}, {"\xE2\x96\x81\xE2\x96\x81", -11, 1}};
  // The same without the space piece (so spaces are unknown too, and a run of
  // unknowns crosses words), and with a piece spanning a space ("a▁c").
  std::vector<std::tuple<std::string, float, int>> no_space, spanning = pieces;
  for (const auto& p : pieces)
    if (std::get<0>(p).find("\xE2\x96\x81") == std::string::npos) no_space.push_back(p);
  spanning.emplace_back("a\xE2\x96\x81" "c", -1.5f, 1);
  std::vector<std::tuple<std::string, float, int>> with_bytes = pieces;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    with_bytes.emplace_back(name, 0, 6);
  }
  const std::vector<std::string> texts = {"ab", "abab", "ab ab", "cde", "ccdde", "xyab", "xy  yx ab", " ab  ",
                                          "   ", "b", "bab", "a\xE2\x96\x81" "ab", "abxab", "dede cdcd",
                                          "a  ab", "ab   ab", "a c", "ab c a  c", "x y", "ax  yb", "xx yy ab x"};
  int n = 0;
  for (const auto& model : {HandModel(pieces, false, true), HandModel(pieces, false, false),
                            HandModel(with_bytes, true, false), HandModel(with_bytes, true, true),
                            HandModel(no_space, false, false), HandModel(spanning, false, false)}) {
    const std::string path = dir / ("hand" + std::to_string(n++) + ".model");
    std::ofstream(path, std::ios::binary) << model;
    const Pair p = LoadBoth(path);
    ASSERT_TRUE(p.ours && p.library);
    EXPECT_TRUE(p.ours->uses_own_encoder()) << path;
    ExpectSameIds(p, texts, path);
  }
}

}  // namespace
}  // namespace st::data
