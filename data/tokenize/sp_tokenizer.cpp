#include "data/tokenize/sp_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "core/file_io.h"
#include "core/hash.h"

namespace st::data {

SpTokenizer::SpTokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SpTokenizer::~SpTokenizer() = default;

StatusOr<std::unique_ptr<SpTokenizer>> SpTokenizer::Load(const std::string& model_path, bool add_bos, bool add_eos) {
  ST_ASSIGN_OR_RETURN(std::string bytes, ReadFile(model_path));
  std::unique_ptr<SpTokenizer> t(new SpTokenizer());
  sentencepiece::util::Status s;
  try {
    s = t->sp_->LoadFromSerializedProto(bytes);
  } catch (const std::exception& e) {
    // libsentencepiece's trie builder (darts-clone) throws on some malformed
    // models, e.g. an empty piece in a unigram model (found by fuzz_tokenizer_model).
    return InvalidInput(model_path + ": not a valid sentencepiece model (" + e.what() +
                        "); expected the tokenizer.model shipped with the checkpoint");
  }
  if (!s.ok())
    return InvalidInput(model_path + ": not a valid sentencepiece model (" + s.ToString() +
                        "); expected the tokenizer.model shipped with the checkpoint");
  t->sha256_ = Sha256Hex(bytes);
  t->path_ = model_path;
  t->add_bos_ = add_bos && t->sp_->bos_id() >= 0;
  t->add_eos_ = add_eos && t->sp_->eos_id() >= 0;
  // Control and unknown pieces (<s>, </s>, <unk>) written in the text are those
  // tokens, as in transformers and llama.cpp; sentencepiece alone would spell them
  // out. Longest first so that a longer special wins.
  for (int id = 0; id < t->sp_->GetPieceSize(); ++id)
    if (t->sp_->IsControl(id) || t->sp_->IsUnknown(id)) t->specials_.emplace_back(t->sp_->IdToPiece(id), id);
  std::sort(t->specials_.begin(), t->specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& sp : t->specials_)
    if (!sp.first.empty()) t->special_first_[(unsigned char)sp.first[0]] = true;
  t->fast_ = t->BuildOwnEncoder(bytes);
  return t;
}

// Our encoder for this model, if it reproduces libsentencepiece on it: checked at
// load on fixed probes and on a sample of the vocabulary's own pieces.
std::unique_ptr<SpBpeEncoder> SpTokenizer::BuildOwnEncoder(const std::string& bytes) const {
  if (const char* off = std::getenv("SLICETUNE_SP_LIBRARY"); off && *off && std::string(off) != "0") return nullptr;
  auto facts = ReadSpModelFacts(bytes, path_);
  if (!facts.ok() || (int)facts->pieces.size() != sp_->GetPieceSize()) return nullptr;
  std::string why;
  auto fast = SpBpeEncoder::Build(*facts, &why);
  if (!fast) return nullptr;
  std::vector<std::string> probes = {"Hello world", "  two  leading, trailing  ", " ", "\t\n\r mixed\twhite  space\n",
                                     "中文测试：标点。全角ＡＢＣ１２３", "12345 67.89e-3 ~!@#$%^&*()_+", "😀 emoji 🇨🇳 and ☃"};
  std::string sample;
  for (int id = 0; id < sp_->GetPieceSize(); id += 7) {
    if (!sp_->IsControl(id) && !sp_->IsUnknown(id) && !sp_->IsByte(id)) sample += sp_->IdToPiece(id);
    if (sample.size() > 4096) break;
  }
  std::string spaced;  // the pieces' U+2581 back to spaces
  for (size_t i = 0; i < sample.size(); ++i)
    if (sample.compare(i, 3, "\xE2\x96\x81") == 0) {
      spaced += ' ';
      i += 2;
    } else {
      spaced += sample[i];
    }
  probes.push_back(spaced);
  for (const auto& p : probes) {
    std::vector<int> ours, theirs;
    if (!fast->Encode(p, &ours)) return nullptr;
    sp_->Encode(p, &theirs).IgnoreError();
    if (ours != theirs) return nullptr;
  }
  return fast;
}

std::vector<int> SpTokenizer::Encode(const std::string& text) const { return EncodeWithOffsets(text, nullptr); }

// Each stretch of text between special tokens is encoded on its own, with
// sentencepiece's dummy prefix, as llama.cpp and the original Llama / Mistral code do.
std::vector<int> SpTokenizer::EncodeWithOffsets(const std::string& text, std::vector<size_t>* starts) const {
  std::vector<int> ids;
  if (starts) starts->clear();
  auto piece = [&](size_t from, size_t to) {
    if (to <= from) return;
    if (!starts) {  // ids only: the faster path, no piece protos
      if (fast_ && fast_->Encode(std::string_view(text).substr(from, to - from), &ids)) return;
      std::vector<int> part;
      sp_->Encode(std::string_view(text).substr(from, to - from), &part).IgnoreError();
      ids.insert(ids.end(), part.begin(), part.end());
      return;
    }
    sentencepiece::ImmutableSentencePieceText spt;
    // Input is validated UTF-8; sentencepiece cannot fail on it.
    sp_->Encode(std::string_view(text).substr(from, to - from), spt.mutable_proto()).IgnoreError();
    for (const auto& p : spt.pieces()) {
      ids.push_back((int)p.id());
      if (starts) starts->push_back(from + p.begin());
    }
  };
  size_t seg = 0;
  for (size_t i = 0; i < text.size();) {
    int hit = -1;
    size_t len = 0;
    if (special_first_[(unsigned char)text[i]])
      for (const auto& [s, id] : specials_)
        if (text.compare(i, s.size(), s) == 0) {
          hit = id;
          len = s.size();
          break;
        }
    if (hit < 0) {
      ++i;
      continue;
    }
    piece(seg, i);
    ids.push_back(hit);
    if (starts) starts->push_back(i);
    i += len;
    seg = i;
  }
  piece(seg, text.size());
  return ids;
}

std::string SpTokenizer::Decode(const std::vector<int>& ids) const {
  std::string out;
  sp_->Decode(ids, &out).IgnoreError();
  return out;
}

int SpTokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int SpTokenizer::bos_id() const { return sp_->bos_id(); }
int SpTokenizer::eos_id() const { return sp_->eos_id(); }
int SpTokenizer::unk_id() const { return sp_->unk_id(); }
int SpTokenizer::pad_id() const { return sp_->pad_id(); }
std::string SpTokenizer::Piece(int id) const { return sp_->IdToPiece(id); }
float SpTokenizer::Score(int id) const { return sp_->GetScore(id); }

TokenType SpTokenizer::Type(int id) const {
  if (sp_->IsUnknown(id)) return TokenType::kUnknown;
  if (sp_->IsControl(id)) return TokenType::kControl;
  if (sp_->IsUnused(id)) return TokenType::kUnused;
  if (sp_->IsByte(id)) return TokenType::kByte;
  return TokenType::kNormal;
}

Status TrainSpModel(const std::vector<std::string>& corpus_files, const std::string& out_prefix, int vocab_size,
                    uint64_t seed) {
  std::string inputs;
  for (const auto& f : corpus_files) {
    if (!PathExists(f)) return InvalidInput(f + ": tokenizer training corpus not found");
    inputs += (inputs.empty() ? "" : ",") + f;
  }
  (void)seed;  // sentencepiece's BPE trainer is deterministic for a given input order
  // Llama-2-style: BPE, byte fallback, identity normalization, a dummy prefix
  // space, whitespace kept, digits split; ids 0/1/2 = <unk>/<s>/</s>.
  std::string args = "--input=" + inputs + " --model_prefix=" + out_prefix + " --model_type=bpe" +
                     " --vocab_size=" + std::to_string(vocab_size) +
                     " --character_coverage=0.9995 --byte_fallback=true --normalization_rule_name=identity"
                     " --add_dummy_prefix=true --remove_extra_whitespaces=false --split_digits=true"
                     " --hard_vocab_limit=false --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1"
                     " --num_threads=2 --minloglevel=2 --max_sentence_length=8192";
  auto s = sentencepiece::SentencePieceTrainer::Train(args);
  if (!s.ok()) return RuntimeError("sentencepiece training failed: " + s.ToString());
  return Status::Ok();
}

}  // namespace st::data
