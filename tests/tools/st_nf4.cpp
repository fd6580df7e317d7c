// Test tool: NF4-quantizes raw float32 values with kernels/nf4_ref.cpp and writes
// packed codes, absmax codes, absmax2 and the offset as raw files next to OUT
// (OUT.packed, OUT.absmax_q, OUT.absmax2, OUT.offset), for the bitsandbytes test.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/nf4.h"

namespace {
bool Write(const std::string& path, const void* data, size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), (std::streamsize)bytes);
  return (bool)f;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: st_nf4 IN.f32 OUT\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && !in.good()) return 2;
  const int64_t n = (int64_t)(raw.size() / sizeof(float));
  std::vector<float> x(n);
  std::memcpy(x.data(), raw.data(), n * sizeof(float));
  const st::kernels::Nf4Sizes sz = st::kernels::Nf4SizesFor(n);
  std::vector<uint8_t> packed(sz.packed), aq(sz.blocks);
  std::vector<float> a2(sz.blocks2);
  float offset = 0;
  st::kernels::Nf4QuantizeRef(n, x.data(), packed.data(), aq.data(), a2.data(), &offset);
  const std::string out = argv[2];
  const bool ok = Write(out + ".packed", packed.data(), packed.size()) && Write(out + ".absmax_q", aq.data(), aq.size()) &&
                  Write(out + ".absmax2", a2.data(), a2.size() * 4) && Write(out + ".offset", &offset, 4);
  return ok ? 0 : 1;
}
