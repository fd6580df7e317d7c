#include "train/cpu_packed_gemm.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <climits>

namespace st::train {
namespace {

// CBLAS's values (mkl_cblas.h): row-major layout, the transposes, the marker for a
// packed operand, and the identifier of the B operand.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kMatrixB = 162;

// MKL's LP64 interface: MKL_INT is int.
using GetSizeFn = size_t (*)(int identifier, int m, int n, int k);
using PackFn = void (*)(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src,
                        int ld, float* dest);
using ComputeFn = void (*)(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda,
                           const float* b, int ldb, float beta, float* c, int ldc);

struct Api {
  GetSizeFn get_size = nullptr;
  PackFn pack = nullptr;
  ComputeFn compute = nullptr;
};

const Api* Lookup() {
  static const Api api = [] {
    Api a;
    a.get_size = reinterpret_cast<GetSizeFn>(dlsym(RTLD_DEFAULT, "cblas_sgemm_pack_get_size"));
    a.pack = reinterpret_cast<PackFn>(dlsym(RTLD_DEFAULT, "cblas_sgemm_pack"));
    a.compute = reinterpret_cast<ComputeFn>(dlsym(RTLD_DEFAULT, "cblas_sgemm_compute"));
    return a;
  }();
  return api.get_size && api.pack && api.compute ? &api : nullptr;
}

// A pack's buffer straight from the kernel: MKL asks for several times the weight's
// size and writes about the weight's size of it; fresh pages that are never written
// never become resident, where memory from the allocator's free lists (an earlier
// step's activations) would be resident already. Undefined if the mapping fails.
at::Tensor MapBuffer(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return at::Tensor();
  return at::from_blob(
      p, {static_cast<int64_t>(bytes)}, [bytes](void* q) { munmap(q, bytes); }, at::TensorOptions().dtype(at::kByte));
}

bool FitsInt(int64_t v) { return v > 0 && v < INT_MAX; }

bool Packable(const at::Tensor& w) {
  return w.defined() && w.is_cpu() && w.scalar_type() == at::kFloat && w.dim() == 2 && w.is_contiguous() &&
         FitsInt(w.size(0)) && FitsInt(w.size(1)) && FitsInt(w.numel());
}

bool Usable(const at::Tensor& x, int64_t cols) {
  return x.is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 && x.is_contiguous() && x.size(1) == cols;
}

}  // namespace

bool PackedWeight::Available() { return Lookup() != nullptr; }

bool PackedWeight::SameWeight(const Pack& p, const at::Tensor& w) {
  return p.buf.defined() && p.storage && p.storage->lock().get() == w.storage().unsafeGetStorageImpl() &&
         p.src == w.data_ptr() && p.version == static_cast<int64_t>(w._version());
}

// op(B) = W^T (in, out) for x W^T, or W (out, in) as stored for dy W; either way
// read from W's rows of `in` floats. Undefined buffer if the mapping fails.
PackedWeight::Pack PackedWeight::Made(const at::Tensor& w, int64_t rows, bool transposed) {
  const Api* api = Lookup();
  const int m = static_cast<int>(rows), out = static_cast<int>(w.size(0)), in = static_cast<int>(w.size(1));
  const int n = transposed ? out : in, k = transposed ? in : out;
  Pack p;
  p.buf = MapBuffer(api->get_size(kMatrixB, m, n, k));
  if (!p.buf.defined()) return p;
  api->pack(kRowMajor, kMatrixB, transposed ? kTrans : kNoTrans, m, n, k, 1.0f, w.data_ptr<float>(), in,
            reinterpret_cast<float*>(p.buf.data_ptr()));
  p.storage = w.storage().getWeakStorageImpl();
  p.src = w.data_ptr();
  p.version = static_cast<int64_t>(w._version());
  p.rows = rows;
  return p;
}

// c (rows, n) = a (rows, k) op(B) + beta c, op(B) from `p`.
void PackedWeight::Multiply(const Pack& p, const at::Tensor& a, int64_t n, float beta, at::Tensor& c) {
  const int m = static_cast<int>(a.size(0)), k = static_cast<int>(a.size(1));
  Lookup()->compute(kRowMajor, kNoTrans, kPacked, m, static_cast<int>(n), k, a.data_ptr<float>(), k,
                    reinterpret_cast<const float*>(p.buf.data_ptr()), static_cast<int>(n), beta, c.data_ptr<float>(),
                    static_cast<int>(n));
}

void PackedWeight::ForgetStale(const at::Tensor& w) const {
  if (fwd_.buf.defined() && !SameWeight(fwd_, w)) fwd_ = Pack();
  if (bwd_.buf.defined() && !SameWeight(bwd_, w)) bwd_ = Pack();
}

void PackedWeight::Prepare(const at::Tensor& w, int64_t rows) {
  if (!Available() || !Packable(w) || !FitsInt(rows)) return;
  std::lock_guard<std::mutex> lock(mu_);
  // The first row count stays the packs' count; a new pack only for a replaced weight.
  if (fwd_.buf.defined()) {
    if (SameWeight(fwd_, w)) return;
    rows = fwd_.rows;
  }
  bwd_ = Pack();
  fwd_ = Made(w, rows, /*transposed=*/true);
}

at::Tensor PackedWeight::Forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) const {
  const int64_t out = w.size(0), in = w.size(1), rows = x.size(0);
  if (!Available() || !Usable(x, in)) return at::Tensor();
  std::lock_guard<std::mutex> lock(mu_);
  const Pack* p = ForwardPack(rows, w);
  if (!p) return at::Tensor();
  at::Tensor y = bias.defined() ? bias.to(at::kFloat).expand({rows, out}).contiguous() : at::empty({rows, out}, x.options());
  Multiply(*p, x, out, bias.defined() ? 1.0f : 0.0f, y);
  return y;
}

// Both called with mu_ held. The backward pack exists only beside a forward one
// for the same row count (a training run's).
const PackedWeight::Pack* PackedWeight::ForwardPack(int64_t rows, const at::Tensor& w) const {
  ForgetStale(w);
  return fwd_.buf.defined() && fwd_.rows == rows ? &fwd_ : nullptr;
}

const PackedWeight::Pack* PackedWeight::BackwardPack(int64_t rows, const at::Tensor& w) const {
  if (!ForwardPack(rows, w)) return nullptr;
  if (!bwd_.buf.defined()) bwd_ = Made(w, rows, /*transposed=*/false);
  return bwd_.buf.defined() ? &bwd_ : nullptr;
}

at::Tensor PackedWeight::Backward(const at::Tensor& dy, const at::Tensor& w) const {
  const int64_t out = w.size(0), in = w.size(1);
  if (!Available() || !Usable(dy, out)) return at::Tensor();
  std::lock_guard<std::mutex> lock(mu_);
  const Pack* p = BackwardPack(dy.size(0), w);
  if (!p) return at::Tensor();
  at::Tensor dx = at::empty({dy.size(0), in}, dy.options());
  Multiply(*p, dy, in, 0.0f, dx);
  return dx;
}

bool PackedWeight::AddBackward(const at::Tensor& dy, const at::Tensor& w, at::Tensor& dx) const {
  const int64_t out = w.size(0), in = w.size(1);
  if (!Available() || !Usable(dy, out) || !Usable(dx, in) || dx.size(0) != dy.size(0)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  const Pack* p = BackwardPack(dy.size(0), w);
  if (!p) return false;
  Multiply(*p, dy, in, 1.0f, dx);
  return true;
}

}  // namespace st::train
