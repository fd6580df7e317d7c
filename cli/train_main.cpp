// slicetune-train: the LibTorch half of slicetune. `slicetune train` and
// `slicetune run` start it after the data stage; it never loads sentencepiece
// (see data/tokenize/sp_tokenizer.h for why).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/log.h"
#include "core/recipe.h"
#include "train/trainer.h"

int main(int argc, char** argv) {
  CLI::App app{"slicetune-train: LoRA training on a recipe's shards (normally started by `slicetune train`)"};
  std::string recipe;
  std::vector<std::string> sets;
  app.add_option("RECIPE", recipe, "Recipe YAML file")->required();
  app.add_option("--set", sets, "Override a recipe field: key.path=value (repeatable)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  st::Status s;
  auto r = st::LoadRecipe(recipe, sets);
  if (r.ok()) {
    auto res = st::train::RunTraining(*r);
    if (res.ok()) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "train: %lld steps, loss %.4f -> %.4f, val loss %.4f, %.1f s", (long long)res->steps,
                    res->first_loss, res->final_loss, res->val_loss, res->seconds);
      st::LogInfo(buf);
    }
    s = res.status();
  } else {
    s = r.status();
  }
  if (!s.ok()) {
    std::fprintf(stderr, "slicetune-train: error: %s\n", s.message().c_str());
    return s.exit_code();
  }
  return 0;
}
