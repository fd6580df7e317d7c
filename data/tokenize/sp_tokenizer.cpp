#include "data/tokenize/sp_tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "core/file_io.h"
#include "core/hash.h"

namespace st::data {

SpTokenizer::SpTokenizer() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SpTokenizer::~SpTokenizer() = default;

StatusOr<std::unique_ptr<SpTokenizer>> SpTokenizer::Load(const std::string& model_path, bool add_bos) {
  ST_ASSIGN_OR_RETURN(std::string bytes, ReadFile(model_path));
  std::unique_ptr<SpTokenizer> t(new SpTokenizer());
  auto s = t->sp_->LoadFromSerializedProto(bytes);
  if (!s.ok())
    return InvalidInput(model_path + ": not a valid sentencepiece model (" + s.ToString() +
                        "); expected the tokenizer.model shipped with the checkpoint");
  t->sha256_ = Sha256Hex(bytes);
  t->path_ = model_path;
  t->add_bos_ = add_bos;
  return t;
}

std::vector<int> SpTokenizer::Encode(const std::string& text) const {
  std::vector<int> ids;
  sp_->Encode(text, &ids).IgnoreError();  // input is validated UTF-8; sentencepiece cannot fail on it
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
