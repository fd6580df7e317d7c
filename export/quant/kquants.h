// Row quantizers for ggml's k-quant types (Q2_K .. Q6_K), byte-identical to
// ggml: without an importance vector they equal quantize_row_qN_K_ref, with one
// they equal ggml's importance-weighted searches (what llama-quantize --imatrix
// runs). Build with -ffp-contract=off.
#pragma once

#include <cstdint>

namespace st::quant {

// `n` values of one row (a multiple of 256) into n/256 super-blocks at `out`.
// `importance` (one value per column of the row, or null) weights the errors.
void QuantizeRowQ2_K(const float* x, int64_t n, const float* importance, uint8_t* out);
void QuantizeRowQ3_K(const float* x, int64_t n, const float* importance, uint8_t* out);
void QuantizeRowQ4_K(const float* x, int64_t n, const float* importance, uint8_t* out);
void QuantizeRowQ5_K(const float* x, int64_t n, const float* importance, uint8_t* out);
void QuantizeRowQ6_K(const float* x, int64_t n, const float* importance, uint8_t* out);

}  // namespace st::quant
