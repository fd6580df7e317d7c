// Recipe YAML (core/recipe.h), slices and overrides included; files are not checked.
#include <string>

#include "core/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)st::ParseRecipes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml", {}, false, "");
  return 0;
}
