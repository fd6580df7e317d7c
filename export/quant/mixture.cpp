#include "export/quant/mixture.h"

#include <algorithm>
#include <cctype>

#include "core/log.h"

namespace st::quant {
namespace {

// llama_ftype values (llama.h).
constexpr FileType kFileTypes[] = {
    {"F32", 0, Type::kF32},       {"F16", 1, Type::kF16},         {"BF16", 32, Type::kBF16},
    {"Q8_0", 7, Type::kQ8_0},     {"Q4_0", 2, Type::kQ4_0},       {"Q4_1", 3, Type::kQ4_1},
    {"Q5_0", 8, Type::kQ5_0},     {"Q5_1", 9, Type::kQ5_1},       {"Q2_K", 10, Type::kQ2_K},
    {"Q2_K_S", 21, Type::kQ2_K},  {"Q3_K_S", 11, Type::kQ3_K},    {"Q3_K_M", 12, Type::kQ3_K},
    {"Q3_K_L", 13, Type::kQ3_K},  {"Q4_K_S", 14, Type::kQ4_K},    {"Q4_K_M", 15, Type::kQ4_K},
    {"Q5_K_S", 16, Type::kQ5_K},  {"Q5_K_M", 17, Type::kQ5_K},    {"Q6_K", 18, Type::kQ6_K},
};
constexpr struct {
  const char* alias;
  const char* name;
} kAliases[] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};

enum class Role { kOutput, kTokenEmbd, kAttnV, kAttnK, kAttnQ, kAttnOut, kFfnUp, kFfnGate, kFfnDown, kOther };

// llama.cpp's tensor_get_category, for the tensors our architectures have.
Role RoleOf(const std::string& n) {
  if (n == "output.weight") return Role::kOutput;
  if (n == "token_embd.weight") return Role::kTokenEmbd;
  auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (has("attn_v.weight")) return Role::kAttnV;
  if (has("attn_k.weight")) return Role::kAttnK;
  if (has("attn_q.weight")) return Role::kAttnQ;
  if (has("attn_output.weight")) return Role::kAttnOut;
  if (has("ffn_up")) return Role::kFfnUp;
  if (has("ffn_gate")) return Role::kFfnGate;
  if (has("ffn_down")) return Role::kFfnDown;
  return Role::kOther;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every
// third layer between them.
bool MoreBits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return (char)std::toupper(c); });
  return s;
}

}  // namespace

std::string KnownFileTypeNames() {
  std::string s;
  for (const auto& f : kFileTypes) s += std::string(s.empty() ? "" : ", ") + f.name;
  return s + " (and Q3_K, Q4_K, Q5_K for the _M mixtures)";
}

StatusOr<FileType> ParseFileType(const std::string& name) {
  std::string want = Upper(name);
  for (const auto& a : kAliases)
    if (want == a.alias) want = a.name;
  for (const auto& f : kFileTypes)
    if (want == f.name) return f;
  return InvalidInput("type '" + name + "' is not supported; supported: " + KnownFileTypeNames());
}

TypePlanner::TypePlanner(FileType ft, ModelFacts facts, bool pure, bool has_imatrix)
    : ft_(ft), facts_(std::move(facts)), pure_(pure), has_imatrix_(has_imatrix) {}

Type TypePlanner::MixtureRule(const std::string& name, int64_t ne0, int layer, Type t) const {
  const uint32_t f = ft_.ftype;
  enum : uint32_t { Q4_0 = 2, Q5_0 = 8, Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15,
                    Q5_K_S = 16, Q5_K_M = 17, Q2_K_S = 21 };
  const int n = facts_.n_layers;
  const int gqa = facts_.n_kv_heads > 0 ? facts_.n_heads / facts_.n_kv_heads : 1;
  // llama.cpp's LLM_TYPE_70B for the architectures we write: 80 layers (llama:
  // with grouped KV heads; 80 equal-head layers is the 65B).
  const bool is_70b = n == 80 && (facts_.arch != "llama" || facts_.n_heads != facts_.n_kv_heads);
  const Role role = RoleOf(name);
  if (role == Role::kOutput || (facts_.tied_embeddings && role == Role::kTokenEmbd)) {
    if (ne0 % Info(t).block_values != 0) return Type::kQ8_0;
    return t == Type::kQ8_0 ? t : Type::kQ6_K;
  }
  if (role == Role::kAttnV) {
    // Each layer has one attn_v, visited in layer order: llama.cpp's counter is the layer.
    const int i = layer;
    if (f == Q2_K) t = gqa >= 4 ? Type::kQ4_K : Type::kQ3_K;
    else if (f == Q2_K_S && gqa >= 4) t = Type::kQ4_K;
    else if (f == Q3_K_M) t = i < 2 ? Type::kQ5_K : Type::kQ4_K;
    else if (f == Q3_K_L) t = Type::kQ5_K;
    else if ((f == Q4_K_M || f == Q5_K_M) && MoreBits(i, n)) t = Type::kQ6_K;
    else if (f == Q4_K_S && i < 4) t = Type::kQ5_K;
    if (is_70b && (t == Type::kQ3_K || t == Type::kQ4_K)) t = Type::kQ5_K;
    return t;
  }
  if (role == Role::kFfnDown) {
    const int i = layer;
    if (f == Q2_K) t = Type::kQ3_K;
    else if (f == Q2_K_S) { if (i < n / 8) t = Type::kQ4_K; }
    else if (f == Q3_K_M) t = i < n / 16 ? Type::kQ5_K : Type::kQ4_K;  // the Q3_K branch is Falcon's only
    else if (f == Q3_K_L) t = Type::kQ5_K;
    else if (f == Q4_K_M) { if (MoreBits(i, n)) t = Type::kQ6_K; }
    else if (f == Q5_K_M && MoreBits(i, n)) t = Type::kQ6_K;
    else if (f == Q4_K_S && i < n / 8) t = Type::kQ5_K;
    else if ((f == Q4_0 || f == Q5_0) && has_imatrix_ && i < n / 8) t = f == Q4_0 ? Type::kQ4_1 : Type::kQ5_1;
    return t;
  }
  if (role == Role::kAttnOut) {
    if (f == Q2_K) t = Type::kQ3_K;
    else if (f == Q3_K_M) t = Type::kQ4_K;
    else if (f == Q3_K_L) t = Type::kQ5_K;
    return t;
  }
  return t;
}

bool TypePlanner::NeedsImportance(const std::string& name, Type t) const {
  if (name == "token_embd.weight" || name == "output.weight") return false;
  return t == Type::kQ2_K && ft_.ftype == 21;  // LLAMA_FTYPE_MOSTLY_Q2_K_S
}

Type TypePlanner::Choose(const std::string& name, int n_dims, int64_t ne0, int layer) const {
  // tensor_allows_quantization: matrices named *weight, not norms or MoE gates.
  const bool matrix = n_dims >= 2 && name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0 &&
                      name.find("_norm.weight") == std::string::npos &&
                      name.find("ffn_gate_inp.weight") == std::string::npos;
  if (!matrix) return Type::kF32;
  Type t = ft_.base;
  if (!IsQuantized(t)) return t;
  if (!pure_) t = MixtureRule(name, ne0, layer, t);
  if (ne0 % Info(t).block_values == 0) return t;
  // tensor_type_fallback: a smaller block of about the same size, else F16.
  Type fb = t;
  switch (t) {
    case Type::kQ2_K:
    case Type::kQ3_K: fb = Type::kQ4_0; break;
    case Type::kQ4_K: fb = Type::kQ5_0; break;
    case Type::kQ5_K: fb = Type::kQ5_1; break;
    case Type::kQ6_K: fb = Type::kQ8_0; break;
    default: break;
  }
  if (ne0 % Info(fb).block_values != 0) fb = Type::kF16;
  LogWarn(name + ": rows of " + std::to_string(ne0) + " values do not fit " + Info(t).name + " blocks; using " +
          Info(fb).name + " as llama.cpp does");
  return fb;
}

}  // namespace st::quant
