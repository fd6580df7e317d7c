// Duplicate removal over a whole corpus, deterministic:
//   exact  documents with the same text (XXH3-128 of the normalized text) keep the first.
//   near   MinHash-LSH over character n-gram shingles (n = 5 by default: Chinese has no
//          spaces, so words are not the unit), `num_perm` hash functions in `bands` bands;
//          documents sharing a band bucket are candidates, a candidate pair whose
//          signatures agree on at least `threshold` of their positions (the Jaccard
//          estimate) is a duplicate pair, and pairs join into clusters (union-find).
//          Each cluster keeps its first document (lowest index).
// The work splits in two phases so that independent tasks can compute signatures
// over their own input shards and one step merges them (see SignatureFile).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::data {

struct DedupOptions {
  bool exact = true;
  bool near = true;
  double threshold = 0.8;
  int ngram = 5;
  int num_perm = 128;
  int bands = 16;  // num_perm must be a multiple of bands
  uint64_t seed = 1;
};

Status ValidateDedupOptions(const DedupOptions& o);

// Phase 1, per document: its exact hash and MinHash signature.
struct DocSignature {
  uint64_t exact_hi = 0, exact_lo = 0;
  std::vector<uint32_t> minhash;  // num_perm values; empty for a document shorter than one shingle
};
DocSignature Sign(const std::string& text, const DedupOptions& o);

struct DupCluster {
  int64_t kept = 0;                 // index of the document kept
  std::vector<int64_t> removed;     // indices removed as its duplicates
  bool exact = false;               // all members identical
};

struct DedupResult {
  std::vector<uint8_t> keep;        // per document
  int64_t exact_removed = 0, near_removed = 0;
  std::vector<DupCluster> clusters;  // by kept index
};

// Phase 2, over the whole corpus (signatures in document order).
class SignatureStore;
StatusOr<DedupResult> ResolveDuplicates(const SignatureStore& sigs, const DedupOptions& o);

// Both phases on texts, `threads` workers for phase 1.
StatusOr<DedupResult> Deduplicate(const std::vector<std::string>& texts, const DedupOptions& o, int threads = 1);

}  // namespace st::data
