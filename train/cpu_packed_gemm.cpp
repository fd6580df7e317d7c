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

bool PackedWeight::Fresh(const Pack& p, const at::Tensor& w, int64_t rows) {
  return p.rows == rows && SameWeight(p, w);
}

PackedWeight::Pack PackedWeight::Made(at::Tensor buf, const at::Tensor& w, int64_t rows) {
  Pack p;
  p.buf = std::move(buf);
  p.storage = w.storage().getWeakStorageImpl();
  p.src = w.data_ptr();
  p.version = static_cast<int64_t>(w._version());
  p.rows = rows;
  return p;
}

void PackedWeight::ForgetStale(const at::Tensor& w) const {
  if (fwd_.buf.defined() && !SameWeight(fwd_, w)) fwd_ = Pack();
  if (bwd_.buf.defined() && !SameWeight(bwd_, w)) bwd_ = Pack();
}

void PackedWeight::Prepare(const at::Tensor& w, int64_t rows) {
  const Api* api = Lookup();
  if (!api || !Packable(w) || !FitsInt(rows)) return;
  std::lock_guard<std::mutex> lock(mu_);
  // The first row count stays the packs' count; a new pack only for a replaced weight.
  if (fwd_.buf.defined()) {
    if (SameWeight(fwd_, w)) return;
    rows = fwd_.rows;
  }
  const int m = static_cast<int>(rows), out = static_cast<int>(w.size(0)), in = static_cast<int>(w.size(1));
  // op(B) = W^T, (in, out), from W stored (out, in).
  fwd_ = bwd_ = Pack();
  at::Tensor buf = MapBuffer(api->get_size(kMatrixB, m, out, in));
  if (!buf.defined()) return;
  api->pack(kRowMajor, kMatrixB, kTrans, m, out, in, 1.0f, w.data_ptr<float>(), in,
            reinterpret_cast<float*>(buf.data_ptr()));
  fwd_ = Made(std::move(buf), w, rows);
}

at::Tensor PackedWeight::Forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) const {
  const Api* api = Lookup();
  const int64_t out = w.size(0), in = w.size(1);
  if (!api || !Usable(x, in)) return at::Tensor();
  std::lock_guard<std::mutex> lock(mu_);
  ForgetStale(w);
  if (!Fresh(fwd_, w, x.size(0))) return at::Tensor();
  const bool biased = bias.defined();
  at::Tensor y = biased ? bias.to(at::kFloat).expand({x.size(0), out}).contiguous() : at::empty({x.size(0), out}, x.options());
  api->compute(kRowMajor, kNoTrans, kPacked, static_cast<int>(x.size(0)), static_cast<int>(out), static_cast<int>(in),
               x.data_ptr<float>(), static_cast<int>(in), reinterpret_cast<const float*>(fwd_.buf.data_ptr()),
               static_cast<int>(in), biased ? 1.0f : 0.0f, y.data_ptr<float>(), static_cast<int>(out));
  return y;
}

at::Tensor PackedWeight::Backward(const at::Tensor& dy, const at::Tensor& w) const {
  const Api* api = Lookup();
  const int64_t out = w.size(0), in = w.size(1);
  if (!api || !Usable(dy, out)) return at::Tensor();
  std::lock_guard<std::mutex> lock(mu_);
  ForgetStale(w);
  const int64_t rows = dy.size(0);
  if (!Fresh(fwd_, w, rows)) return at::Tensor();
  const int m = static_cast<int>(rows);
  if (!Fresh(bwd_, w, rows)) {
    // op(B) = W, (out, in), as stored.
    at::Tensor buf = MapBuffer(api->get_size(kMatrixB, m, static_cast<int>(in), static_cast<int>(out)));
    if (!buf.defined()) return at::Tensor();
    api->pack(kRowMajor, kMatrixB, kNoTrans, m, static_cast<int>(in), static_cast<int>(out), 1.0f,
              w.data_ptr<float>(), static_cast<int>(in), reinterpret_cast<float*>(buf.data_ptr()));
    bwd_ = Made(std::move(buf), w, rows);
  }
  at::Tensor dx = at::empty({rows, in}, dy.options());
  api->compute(kRowMajor, kNoTrans, kPacked, m, static_cast<int>(in), static_cast<int>(out), dy.data_ptr<float>(),
               static_cast<int>(out), reinterpret_cast<const float*>(bwd_.buf.data_ptr()), static_cast<int>(in), 0.0f,
               dx.data_ptr<float>(), static_cast<int>(in));
  return dx;
}

}  // namespace st::train
