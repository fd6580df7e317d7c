// The documents' duplicate signatures that phase 2 of duplicate removal
// (ResolveDuplicates, dedup.h) reads, in document order. Held in memory, or, for a
// whole corpus, with the MinHash values spilled to a file: then memory holds 17
// bytes per document (the exact hash and a flag) and the num_perm x 4 bytes of
// each signature stay on disk, read back one band at a time in order and whole
// only for the candidate pairs a band bucket puts together.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "data/clean/dedup.h"

namespace st::data {

class SignatureStore {
 public:
  // In memory (`spill_path` empty) or spilled to `spill_path` (created, and
  // removed by the destructor).
  static StatusOr<SignatureStore> Create(int num_perm, const std::string& spill_path = "");
  SignatureStore(SignatureStore&& o) noexcept;
  SignatureStore& operator=(SignatureStore&&) = delete;
  SignatureStore(const SignatureStore&) = delete;
  ~SignatureStore();

  // Appends document size()'s signature (its minhash empty, or num_perm values).
  Status Add(const DocSignature& s);
  // Ends the adding; the reads below come after.
  Status Finish();

  size_t size() const { return exact_hi_.size(); }
  int num_perm() const { return num_perm_; }
  uint64_t exact_hi(size_t i) const { return exact_hi_[i]; }
  uint64_t exact_lo(size_t i) const { return exact_lo_[i]; }
  bool has_minhash(size_t i) const { return has_[i] != 0; }

  // (hash of values [band * rows, (band + 1) * rows), document) for each document
  // with a MinHash that `skip` does not mark, in document order.
  Status BandKeys(int band, int rows, const std::vector<uint8_t>& skip,
                  std::vector<std::pair<uint64_t, int64_t>>* keys) const;
  // Document i's num_perm values: a pointer into memory, or read into `buf`.
  StatusOr<const uint32_t*> Get(size_t i, std::vector<uint32_t>* buf) const;

 private:
  SignatureStore() = default;
  Status Read(size_t first, size_t count, uint32_t* out) const;  // spilled values of documents [first, first + count)

  int num_perm_ = 0;
  std::vector<uint64_t> exact_hi_, exact_lo_;
  std::vector<uint8_t> has_;
  std::vector<uint32_t> values_;  // in memory: num_perm per document (UINT32_MAX without a MinHash)
  std::string spill_path_;
  std::FILE* spill_ = nullptr;
};

}  // namespace st::data
