// slicetune: corpus -> LoRA adapter -> GGUF / PEFT. Exit codes: 0 success,
// 1 runtime failure, 2 bad usage or bad input.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"

#ifndef SLICETUNE_VERSION
#define SLICETUNE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"slicetune: turn an enterprise's text into small per-scenario LoRA adapters and ship them as GGUF / PEFT"};
  app.set_version_flag("--version", "slicetune " SLICETUNE_VERSION);
  app.require_subcommand(1);
  st::Status result;
#ifdef SLICETUNE_HAVE_TRAIN  // only when slicetune-train is built beside us
  st::cli::AddRun(app, &result);
#endif
  st::cli::AddInitModel(app, &result);
  st::cli::AddData(app, &result);
#ifdef SLICETUNE_HAVE_TRAIN
  st::cli::AddTrain(app, &result);
  st::cli::AddImatrix(app, &result);
  st::cli::AddGenerate(app, &result);
  st::cli::AddEval(app, &result);
#endif
  st::cli::AddExport(app, &result);
  st::cli::AddTokenize(app, &result);
  st::cli::AddInspect(app, &result);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (!result.ok()) {
    std::fprintf(stderr, "slicetune: error: %s\n", result.message().c_str());
    return result.exit_code();
  }
  return 0;
}
