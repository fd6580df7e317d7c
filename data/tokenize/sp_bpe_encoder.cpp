#include "data/tokenize/sp_bpe_encoder.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

namespace st::data {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, sentencepiece's escaped space

// One strictly valid UTF-8 character at the start of `s` (no overlong forms, no
// surrogates, nothing above U+10FFFF): its length, 0 if there is none.
size_t CharLen(const unsigned char* s, size_t n, uint32_t* cp) {
  const unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

struct Symbol {
  int32_t sym;  // pairing id (-1: pairs with nothing)
  int32_t out;  // id emitted
  int32_t prev, next;
  uint32_t begin, len;  // bytes in the normalized text; len 0 once merged into its left neighbour
  bool frozen;          // a user-defined symbol: never merged
};

struct Candidate {
  float score;
  int32_t left, right;
  int32_t lsym, rsym;  // the symbols' ids when pushed: a merge since makes the entry stale
  int32_t merged;
};

// Max-heap order of sentencepiece's agenda: higher score first, then the leftmost pair.
struct Lower {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

struct Scratch {
  std::string norm;
  std::vector<int> word;
  // Recent short words' ids: word -> (offset, count) in `pool`.
  uint64_t owner = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> words;
  std::vector<int> pool;
};

constexpr size_t kCachedWordBytes = 64;
constexpr size_t kCachedWords = 1 << 16;

std::atomic<uint64_t> g_serial{0};

}  // namespace

std::unique_ptr<SpBpeEncoder> SpBpeEncoder::Build(const SpModelFacts& f, std::string* why) {
  if (f.model_type != 2) return *why = "not a BPE model", nullptr;
  if (f.charsmap_bytes != 0) return *why = "normalization rule '" + f.normalizer_name + "' maps characters", nullptr;
  if (!f.escape_whitespaces) return *why = "spaces are not escaped", nullptr;
  if (f.treat_whitespace_as_suffix) return *why = "whitespace is a suffix", nullptr;
  std::unique_ptr<SpBpeEncoder> e(new SpBpeEncoder());
  std::unordered_map<std::string_view, int> pieces, reserved;  // sentencepiece's pieces_ and reserved_id_map_
  int unk = -1;
  for (int i = 0; i < (int)f.pieces.size(); ++i) {
    const auto& p = f.pieces[i];
    if (p.type == SpModelFacts::kUnused) return *why = "the model has unused pieces", nullptr;
    // The split table costs the square of a piece's length; real vocabularies stay far below this.
    if (p.text.size() > 512) return *why = "a piece longer than 512 bytes", nullptr;
    const bool normal = p.type == SpModelFacts::kNormal || p.type == SpModelFacts::kUserDefined;
    if (!(normal ? pieces : reserved).emplace(p.text, i).second) return *why = "duplicate piece", nullptr;
    if (p.type == SpModelFacts::kUnknown && unk < 0) unk = i;
    if (p.type == SpModelFacts::kUserDefined && !p.text.empty()) {
      e->user_defined_.emplace(p.text, i);
      e->max_user_defined_ = std::max(e->max_user_defined_, p.text.size());
      e->user_first_[(unsigned char)p.text[0]] = true;
    }
  }
  if (unk < 0) return *why = "no unknown piece", nullptr;
  e->serial_ = ++g_serial;
  e->split_at_spaces_ = true;
  for (const auto& [text, id] : pieces)
    for (size_t k = text.find(kSpace, 1); k != std::string_view::npos; k = text.find(kSpace, k + 1))
      if (k < kSpace.size() || text.substr(k - kSpace.size(), kSpace.size()) != kSpace) e->split_at_spaces_ = false;
  e->unk_id_ = unk;
  e->byte_fallback_ = f.byte_fallback;
  e->add_dummy_prefix_ = f.add_dummy_prefix;
  e->remove_extra_whitespaces_ = f.remove_extra_whitespaces;
  auto piece_to_id = [&](std::string_view s) {  // SentencePieceProcessor::PieceToId
    if (auto it = reserved.find(s); it != reserved.end()) return it->second;
    if (auto it = pieces.find(s); it != pieces.end()) return it->second;
    return unk;
  };
  const int n = (int)f.pieces.size();
  e->out_of_piece_.resize(n);
  for (int i = 0; i < n; ++i) e->out_of_piece_[i] = piece_to_id(f.pieces[i].text);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    e->byte_ids_[b] = piece_to_id(name);
  }

  // Characters: their own piece when they are one, else the id they are emitted as.
  e->bmp_.assign(0x10000, CharIds{-1, unk});
  auto char_slot = [&](uint32_t cp) -> CharIds& {
    if (cp < 0x10000) return e->bmp_[cp];
    return e->astral_.try_emplace(cp, CharIds{-1, unk}).first->second;
  };
  auto one_char = [](std::string_view s, uint32_t* cp) {
    return !s.empty() && CharLen((const unsigned char*)s.data(), s.size(), cp) == s.size();
  };
  for (int i = 0; i < n; ++i) {
    uint32_t cp;
    if (!one_char(f.pieces[i].text, &cp)) continue;
    const bool normal = pieces.count(f.pieces[i].text) && pieces.at(f.pieces[i].text) == i;
    CharIds& c = char_slot(cp);
    if (normal) c.sym = i;
    c.out = piece_to_id(f.pieces[i].text);
  }

  // Every way each piece is the concatenation of two symbols. A symbol is a piece
  // or a single character; a character that is no piece gets a pseudo id past
  // the vocabulary so that pairs with it are found by id as well.
  int32_t next_pseudo = n;
  auto symbol_id = [&](std::string_view s) -> int32_t {
    if (auto it = pieces.find(s); it != pieces.end()) return it->second;
    uint32_t cp;
    if (!one_char(s, &cp)) return -1;
    CharIds& c = char_slot(cp);
    if (c.sym < 0) c.sym = next_pseudo++;
    return c.sym;
  };
  std::vector<Merge> list;
  for (const auto& [text, id] : pieces) {
    const auto* s = (const unsigned char*)text.data();
    size_t k = 0;
    uint32_t cp;
    while (k < text.size()) {
      const size_t len = CharLen(s + k, text.size() - k, &cp);
      if (len == 0) break;  // not valid UTF-8: never made from valid text
      k += len;
      if (k == text.size()) break;
      const int32_t l = symbol_id(text.substr(0, k)), r = symbol_id(text.substr(k));
      if (l >= 0 && r >= 0) list.push_back(Merge{(uint64_t)(uint32_t)l << 32 | (uint32_t)r, id, f.pieces[id].score});
    }
  }
  size_t cap = 16;
  while (cap < 2 * list.size()) cap <<= 1;
  e->merges_.assign(cap, Merge{0, -1, 0});
  e->merge_mask_ = cap - 1;
  for (const Merge& m : list) {
    uint64_t h = (m.key * 0x9E3779B97F4A7C15ull) >> 20;
    while (e->merges_[h & e->merge_mask_].merged >= 0) ++h;
    e->merges_[h & e->merge_mask_] = m;
  }
  return e;
}

SpBpeEncoder::CharIds SpBpeEncoder::LookupChar(uint32_t cp) const {
  if (cp < 0x10000) return bmp_[cp];
  auto it = astral_.find(cp);
  return it == astral_.end() ? CharIds{-1, unk_id_} : it->second;
}

const SpBpeEncoder::Merge* SpBpeEncoder::FindMerge(int32_t left, int32_t right) const {
  const uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
  for (uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 20;; ++h) {
    const Merge& m = merges_[h & merge_mask_];
    if (m.merged < 0) return nullptr;
    if (m.key == key) return &m;
  }
}

int SpBpeEncoder::MatchUserDefined(std::string_view s, size_t* len) const {
  if (user_defined_.empty() || !user_first_[(unsigned char)s[0]]) return -1;
  for (size_t l = std::min(s.size(), max_user_defined_); l > 0; --l)
    if (auto it = user_defined_.find(std::string(s.substr(0, l))); it != user_defined_.end()) {
      *len = l;
      return it->second;
    }
  return -1;
}

// sentencepiece's Normalizer::Normalize with an empty character map: the text in
// units (a user-defined symbol, else one character), leading and repeated spaces
// dropped when remove_extra_whitespaces, a dummy-prefix space, ' ' escaped.
bool SpBpeEncoder::Normalize(std::string_view text, std::string* out) const {
  out->clear();
  auto unit = [&](size_t i) {
    size_t len = 0;
    if (MatchUserDefined(text.substr(i), &len) >= 0) return len;
    uint32_t cp;
    return CharLen((const unsigned char*)text.data() + i, text.size() - i, &cp);  // 0: not valid UTF-8
  };
  size_t i = 0;
  if (remove_extra_whitespaces_)
    while (i < text.size() && unit(i) == 1 && text[i] == ' ') ++i;
  if (i == text.size()) return true;
  if (add_dummy_prefix_) out->append(kSpace);
  bool prev_space = remove_extra_whitespaces_;
  while (i < text.size()) {
    const size_t len = unit(i);
    if (len == 0) return false;
    std::string_view sp = text.substr(i, len);
    while (prev_space && !sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      for (char c : sp)
        if (c == ' ')
          out->append(kSpace);
        else
          out->push_back(c);
      prev_space = sp.back() == ' ';
    }
    i += len;
    if (!remove_extra_whitespaces_) prev_space = false;
  }
  if (remove_extra_whitespaces_)
    while (out->size() >= kSpace.size() && std::string_view(*out).substr(out->size() - kSpace.size()) == kSpace)
      out->resize(out->size() - kSpace.size());
  return true;
}

bool SpBpeEncoder::Encode(std::string_view text, std::vector<int>* ids) const {
  thread_local Scratch t;
  if (!Normalize(text, &t.norm)) return false;
  const std::string_view norm = t.norm;
  const size_t first = ids->size();
  // Without byte fallback a run of unknown pieces is one <unk>, across words too.
  auto append = [&](const int* w, size_t n) {
    if (n && !byte_fallback_ && w[0] == unk_id_ && ids->size() > first && ids->back() == unk_id_) ++w, --n;
    ids->insert(ids->end(), w, w + n);
  };
  if (!split_at_spaces_) {
    EncodeStretch(norm, &t.word);
    append(t.word.data(), t.word.size());
    return true;
  }
  if (t.owner != serial_) {
    t.owner = serial_;
    t.words.clear();
    t.pool.clear();
  }
  for (size_t a = 0; a < norm.size();) {
    // The next start of a space run: U+2581 not preceded by U+2581.
    size_t b = a + 1;
    for (;; ++b) {
      const void* hit = std::memchr(norm.data() + b, kSpace[0], norm.size() - std::min(b, norm.size()));
      if (!hit) {
        b = norm.size();
        break;
      }
      b = (const char*)hit - norm.data();
      if (norm.compare(b, kSpace.size(), kSpace) == 0 &&
          (b < kSpace.size() || norm.compare(b - kSpace.size(), kSpace.size(), kSpace) != 0))
        break;
    }
    const std::string_view word = norm.substr(a, b - a);
    a = b;
    if (word.size() > kCachedWordBytes) {
      EncodeStretch(word, &t.word);
      append(t.word.data(), t.word.size());
      continue;
    }
    auto it = t.words.find(std::string(word));  // (heterogeneous lookup needs C++20 transparent hashing; short keys)
    if (it == t.words.end()) {
      EncodeStretch(word, &t.word);
      if (t.words.size() >= kCachedWords) {
        t.words.clear();
        t.pool.clear();
      }
      it = t.words.emplace(std::string(word), std::make_pair((uint32_t)t.pool.size(), (uint32_t)t.word.size())).first;
      t.pool.insert(t.pool.end(), t.word.begin(), t.word.end());
    }
    append(t.pool.data() + it->second.first, it->second.second);
  }
  return true;
}

void SpBpeEncoder::EncodeStretch(std::string_view norm, std::vector<int>* out) const {
  thread_local std::vector<Symbol> syms;
  thread_local std::vector<Candidate> heap;
  out->clear();
  const auto* s = (const unsigned char*)norm.data();
  // Symbols: user-defined symbols (frozen), else characters.
  syms.clear();
  for (size_t i = 0; i < norm.size();) {
    Symbol y{};
    size_t len = 0;
    if (int id = MatchUserDefined(norm.substr(i), &len); id >= 0) {
      y.sym = id, y.out = out_of_piece_[id], y.frozen = true;
    } else {
      uint32_t cp;
      len = CharLen(s + i, norm.size() - i, &cp);
      const CharIds c = LookupChar(cp);
      y.sym = c.sym, y.out = c.out, y.frozen = false;
    }
    const int32_t k = (int32_t)syms.size();
    y.prev = k - 1;
    y.next = k + 1;
    y.begin = (uint32_t)i;
    y.len = (uint32_t)len;
    syms.push_back(y);
    i += len;
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  heap.clear();
  auto candidate = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return false;
    const Symbol &a = syms[l], &b = syms[r];
    if (a.frozen || b.frozen || a.sym < 0 || b.sym < 0) return false;
    const Merge* m = FindMerge(a.sym, b.sym);
    if (!m) return false;
    heap.push_back(Candidate{m->score, l, r, a.sym, b.sym, m->merged});
    return true;
  };
  for (int32_t i = 0; i + 1 < (int32_t)syms.size(); ++i) candidate(i, i + 1);
  std::make_heap(heap.begin(), heap.end(), Lower());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Lower());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol &a = syms[c.left], &b = syms[c.right];
    if (a.len == 0 || b.len == 0 || a.next != c.right || a.sym != c.lsym || b.sym != c.rsym) continue;  // stale
    a.len += b.len;
    a.sym = c.merged;
    a.out = out_of_piece_[c.merged];
    a.next = b.next;
    if (b.next >= 0) syms[b.next].prev = c.left;
    b.len = 0;
    if (candidate(a.prev, c.left)) std::push_heap(heap.begin(), heap.end(), Lower());
    if (candidate(c.left, a.next)) std::push_heap(heap.begin(), heap.end(), Lower());
  }

  bool prev_unk = false;
  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    const Symbol& y = syms[i];
    const bool unk = y.out == unk_id_;
    if (unk && byte_fallback_) {
      for (uint32_t k = 0; k < y.len; ++k) out->push_back(byte_ids_[s[y.begin + k]]);
    } else if (!(unk && prev_unk)) {  // without byte fallback a run of unknown pieces is one <unk>
      out->push_back(y.out);
    }
    prev_unk = unk;
  }
}

}  // namespace st::data
