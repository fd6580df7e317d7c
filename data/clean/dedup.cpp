#include "data/clean/dedup.h"

#include "data/clean/minhash.h"
#include "data/clean/signature_store.h"

#include <xxhash.h>

#include <algorithm>
#include <numeric>
#include <thread>
#include <unordered_map>

namespace st::data {
namespace {

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Multiply-shift hash functions h_i(x) = (a_i * x + b_i) >> 32 (a_i odd), one per
// permutation, drawn from the seed.
struct Perms {
  std::vector<uint64_t> a, b;
  Perms(int n, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < n; ++i) {
      a.push_back(SplitMix(s) | 1);
      b.push_back(SplitMix(s));
    }
  }
};

const Perms& PermsFor(int n, uint64_t seed) {
  thread_local std::vector<std::pair<std::pair<int, uint64_t>, Perms>> cache;
  for (const auto& [k, p] : cache)
    if (k.first == n && k.second == seed) return p;
  cache.emplace_back(std::make_pair(n, seed), Perms(n, seed));
  return cache.back().second;
}

struct UnionFind {
  std::vector<int64_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int64_t Find(int64_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void Union(int64_t a, int64_t b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return;
    if (b < a) std::swap(a, b);
    parent[b] = a;  // the root is always the lowest index: the document kept
  }
};

}  // namespace

Status ValidateDedupOptions(const DedupOptions& o) {
  if (o.ngram < 1 || o.ngram > 64) return InvalidInput("dedup.ngram: expected 1..64, found " + std::to_string(o.ngram));
  if (o.num_perm < 1 || o.num_perm > 4096) return InvalidInput("dedup.num_perm: expected 1..4096");
  if (o.bands < 1 || o.num_perm % o.bands != 0)
    return InvalidInput("dedup.bands: expected a divisor of num_perm (" + std::to_string(o.num_perm) + "), found " +
                        std::to_string(o.bands));
  if (!(o.threshold > 0 && o.threshold <= 1)) return InvalidInput("dedup.threshold: expected a number in (0, 1]");
  return Status::Ok();
}

DocSignature Sign(const std::string& text, const DedupOptions& o) {
  DocSignature sig;
  XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  sig.exact_hi = h.high64;
  sig.exact_lo = h.low64;
  if (!o.near) return sig;
  // Start offsets of the code points.
  std::vector<uint32_t> starts;
  starts.reserve(text.size());
  for (uint32_t i = 0; i < text.size(); ++i)
    if (((unsigned char)text[i] & 0xC0) != 0x80) starts.push_back(i);
  const size_t n = starts.size();
  if (n < (size_t)o.ngram) return sig;
  const Perms& p = PermsFor(o.num_perm, o.seed);
  sig.minhash.assign(o.num_perm, UINT32_MAX);
  std::vector<uint64_t> shingles;
  shingles.reserve(n - o.ngram + 1);
  for (size_t i = 0; i + o.ngram <= n; ++i) {
    const uint32_t b = starts[i], e = i + o.ngram < n ? starts[i + o.ngram] : (uint32_t)text.size();
    shingles.push_back(XXH3_64bits(text.data() + b, e - b));
  }
  // A repeated shingle changes no minimum: no need to sort them out.
  MinHash(shingles.data(), shingles.size(), p.a.data(), p.b.data(), o.num_perm, sig.minhash.data());
  return sig;
}

StatusOr<DedupResult> ResolveDuplicates(const SignatureStore& sigs, const DedupOptions& o) {
  const size_t n = sigs.size();
  DedupResult r;
  r.keep.assign(n, 1);
  UnionFind uf(n);
  std::vector<uint8_t> exact_dup(n, 0);
  if (o.exact) {
    // Sorted by (hash, index): each run of equal hashes joins its first document.
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      if (sigs.exact_hi(a) != sigs.exact_hi(b)) return sigs.exact_hi(a) < sigs.exact_hi(b);
      if (sigs.exact_lo(a) != sigs.exact_lo(b)) return sigs.exact_lo(a) < sigs.exact_lo(b);
      return a < b;
    });
    for (size_t k = 1, first = 0; k < n; ++k) {
      const int64_t i = order[k], f = order[first];
      if (sigs.exact_hi(i) == sigs.exact_hi(f) && sigs.exact_lo(i) == sigs.exact_lo(f)) {
        uf.Union(f, i);
        exact_dup[i] = 1;
      } else {
        first = k;
      }
    }
  }
  if (o.near) {
    if (sigs.num_perm() != o.num_perm) return InvalidInput("dedup: signatures of " + std::to_string(sigs.num_perm()) +
                                                           " values where num_perm is " + std::to_string(o.num_perm));
    const int rows = o.num_perm / o.bands;
    // A spilled store reads signatures from disk: within a bucket each is read at
    // most twice (as the one checked, and once as one of the first kMaxCompare
    // members every later one is checked against, kept while the bucket is walked),
    // not once per comparison.
    constexpr size_t kMaxCompare = 64;
    std::vector<std::vector<uint32_t>> head_buf(kMaxCompare);
    std::vector<const uint32_t*> head(kMaxCompare);
    std::vector<uint32_t> buf;
    auto similar = [&](const uint32_t* x, const uint32_t* y) {
      int same = 0;
      for (int k = 0; k < o.num_perm; ++k) same += x[k] == y[k];
      return same >= o.threshold * o.num_perm - 1e-9;
    };
    std::vector<std::pair<uint64_t, int64_t>> keys;
    for (int band = 0; band < o.bands; ++band) {
      // Documents sharing this band's hash form a bucket; each is checked against
      // the bucket's earlier documents (at most kMaxCompare: a huge bucket is one
      // cluster already). Sorting by (hash, index) lists a bucket in document order.
      ST_RETURN_IF_ERROR(sigs.BandKeys(band, rows, exact_dup, &keys));
      std::sort(keys.begin(), keys.end());
      for (size_t g = 0; g < keys.size();) {
        size_t end = g + 1;
        while (end < keys.size() && keys[end].first == keys[g].first) ++end;
        std::fill(head.begin(), head.end(), nullptr);
        for (size_t p = g + 1; p < end; ++p) {
          const uint32_t* y = nullptr;
          for (size_t k = g; k < p && k < g + kMaxCompare; ++k) {
            if (uf.Find(keys[k].second) == uf.Find(keys[p].second)) continue;
            const uint32_t*& x = head[k - g];
            if (!x) {
              ST_ASSIGN_OR_RETURN(x, sigs.Get(keys[k].second, &head_buf[k - g]));
            }
            if (!y) {
              ST_ASSIGN_OR_RETURN(y, sigs.Get(keys[p].second, &buf));
            }
            if (similar(x, y)) uf.Union(keys[k].second, keys[p].second);
          }
        }
        g = end;
      }
    }
  }
  std::unordered_map<int64_t, size_t> cluster_of;  // root -> index in r.clusters
  for (size_t i = 0; i < n; ++i) {
    const int64_t root = uf.Find((int64_t)i);
    if (root == (int64_t)i) continue;
    r.keep[i] = 0;
    (exact_dup[i] ? r.exact_removed : r.near_removed)++;
    auto [it, inserted] = cluster_of.emplace(root, r.clusters.size());
    if (inserted) r.clusters.push_back({root, {}, true});
    DupCluster& c = r.clusters[it->second];
    c.removed.push_back((int64_t)i);
    c.exact = c.exact && exact_dup[i];
  }
  return r;
}

StatusOr<DedupResult> Deduplicate(const std::vector<std::string>& texts, const DedupOptions& o, int threads) {
  ST_RETURN_IF_ERROR(ValidateDedupOptions(o));
  std::vector<DocSignature> sigs(texts.size());
  threads = std::max(1, std::min<int>(threads, (int)texts.size()));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = t; i < texts.size(); i += threads) sigs[i] = Sign(texts[i], o);
    });
  for (auto& th : pool) th.join();
  ST_ASSIGN_OR_RETURN(SignatureStore store, SignatureStore::Create(o.num_perm));
  for (const auto& s : sigs) ST_RETURN_IF_ERROR(store.Add(s));
  return ResolveDuplicates(store, o);
}

}  // namespace st::data
