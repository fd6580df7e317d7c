// Run-time CPU feature checks that every compiler we build with understands
// (clang 14's __builtin_cpu_supports knows no "f16c"; the fuzz preset builds with it).
#pragma once

#include <cpuid.h>

namespace st {

// AVX (with the OS saving its registers) and the F16C conversion instructions.
inline bool CpuHasF16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__builtin_cpu_supports("avx") || !__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c & bit_F16C) != 0;
}

}  // namespace st
