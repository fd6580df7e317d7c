// JSONL and CSV readers (data/clean/readers.h): the same bytes read as a .jsonl
// instruction source and as a .csv one; bad lines become issues, never crashes.
#include "core/recipe.h"
#include "data/clean/readers.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const char* suffix : {".jsonl", ".csv"}) {
    st::SourceSpec s;
    s.path = st::fuzz::WriteInput(data, size, suffix);
    s.format = "instruction";
    (void)st::data::ReadSource(s);
  }
  return 0;
}
