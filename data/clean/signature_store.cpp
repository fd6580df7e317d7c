#include "data/clean/signature_store.h"

#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

namespace st::data {

StatusOr<SignatureStore> SignatureStore::Create(int num_perm, const std::string& spill_path) {
  if (num_perm < 1) return InvalidInput("dedup: num_perm must be at least 1");
  SignatureStore s;
  s.num_perm_ = num_perm;
  if (!spill_path.empty()) {
    s.spill_ = std::fopen(spill_path.c_str(), "w+b");
    if (!s.spill_) return RuntimeError(spill_path + ": cannot create (" + std::strerror(errno) + ")");
    s.spill_path_ = spill_path;
  }
  return s;
}

SignatureStore::SignatureStore(SignatureStore&& o) noexcept
    : num_perm_(o.num_perm_),
      exact_hi_(std::move(o.exact_hi_)),
      exact_lo_(std::move(o.exact_lo_)),
      has_(std::move(o.has_)),
      values_(std::move(o.values_)),
      spill_path_(std::move(o.spill_path_)),
      spill_(o.spill_) {
  o.spill_ = nullptr;
  o.spill_path_.clear();
}

SignatureStore::~SignatureStore() {
  if (spill_) {
    std::fclose(spill_);
    std::remove(spill_path_.c_str());
  }
}

Status SignatureStore::Add(const DocSignature& s) {
  if (!s.minhash.empty() && (int)s.minhash.size() != num_perm_)
    return InvalidInput("dedup: a signature of " + std::to_string(s.minhash.size()) + " values where num_perm is " +
                        std::to_string(num_perm_) + "; rerun the tasks with the same dedup settings");
  exact_hi_.push_back(s.exact_hi);
  exact_lo_.push_back(s.exact_lo);
  has_.push_back(!s.minhash.empty());
  const size_t bytes = (size_t)num_perm_ * sizeof(uint32_t);
  if (spill_) {
    // Every document takes num_perm slots, so document i sits at i * bytes.
    static const std::vector<uint32_t> none(4096, UINT32_MAX);
    const void* p = s.minhash.empty() ? none.data() : s.minhash.data();
    if (std::fwrite(p, 1, bytes, spill_) != bytes)
      return RuntimeError(spill_path_ + ": write failed (" + std::strerror(errno) + "); is the disk full?");
  } else if (s.minhash.empty()) {
    values_.insert(values_.end(), num_perm_, UINT32_MAX);
  } else {
    values_.insert(values_.end(), s.minhash.begin(), s.minhash.end());
  }
  return Status::Ok();
}

Status SignatureStore::Finish() {
  if (spill_ && std::fflush(spill_) != 0)
    return RuntimeError(spill_path_ + ": write failed (" + std::strerror(errno) + "); is the disk full?");
  return Status::Ok();
}

Status SignatureStore::Read(size_t first, size_t count, uint32_t* out) const {
  const size_t bytes = count * num_perm_ * sizeof(uint32_t);
  off_t at = (off_t)(first * num_perm_ * sizeof(uint32_t));
  size_t done = 0;
  while (done < bytes) {
    const ssize_t n = pread(fileno(spill_), reinterpret_cast<char*>(out) + done, bytes - done, at + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return RuntimeError(spill_path_ + ": read failed" + (n < 0 ? std::string(" (") + std::strerror(errno) + ")" : " (short file)"));
    done += (size_t)n;
  }
  return Status::Ok();
}

Status SignatureStore::BandKeys(int band, int rows, const std::vector<uint8_t>& skip,
                                std::vector<std::pair<uint64_t, int64_t>>* keys) const {
  keys->clear();
  const size_t n = size();
  constexpr size_t kDocsPerRead = 4096;  // 2 MiB of values at 128 per document
  std::vector<uint32_t> chunk;
  for (size_t first = 0; first < n; first += kDocsPerRead) {
    const size_t count = std::min(kDocsPerRead, n - first);
    const uint32_t* v = values_.data() + first * num_perm_;
    if (spill_) {
      chunk.resize(count * num_perm_);
      ST_RETURN_IF_ERROR(Read(first, count, chunk.data()));
      v = chunk.data();
    }
    for (size_t k = 0; k < count; ++k) {
      const size_t i = first + k;
      if (!has_[i] || skip[i]) continue;
      keys->emplace_back(XXH3_64bits(v + k * num_perm_ + (size_t)band * rows, rows * sizeof(uint32_t)), (int64_t)i);
    }
  }
  return Status::Ok();
}

StatusOr<const uint32_t*> SignatureStore::Get(size_t i, std::vector<uint32_t>* buf) const {
  if (!spill_) return values_.data() + i * num_perm_;
  buf->resize(num_perm_);
  ST_RETURN_IF_ERROR(Read(i, 1, buf->data()));
  return buf->data();
}

}  // namespace st::data
