// Subcommand registration: each cli/cmd_*.cpp adds one subcommand to the app and
// stores the library's Status in *result; main turns it into the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace st::cli {

void AddInitModel(CLI::App& app, Status* result);
void AddData(CLI::App& app, Status* result);
// data decode | normalize | deid | dedup | augment (cmd_data_filters.cpp)
void AddDataFilters(CLI::App* data, Status* result);
void AddTrain(CLI::App& app, Status* result);
void AddExport(CLI::App& app, Status* result);
void AddTokenize(CLI::App& app, Status* result);
void AddRun(CLI::App& app, Status* result);
void AddInspect(CLI::App& app, Status* result);
// `slicetune imatrix` (runs slicetune-train's imatrix mode)
void AddImatrix(CLI::App& app, Status* result);
// `slicetune generate` (tokenizes here, generates in slicetune-train)
void AddGenerate(CLI::App& app, Status* result);

// Path of the `slicetune-train` binary installed beside this executable.
std::string TrainBinary();
// Runs argv as a child process and waits; a non-zero exit becomes an error with that exit code.
Status RunChild(const std::vector<std::string>& argv);
// The recipe's train stage as a child process (LibTorch lives only there).
Status TrainInChild(const std::string& recipe, const std::vector<std::string>& overrides, bool resume = false);
// Ensures shards are built and current for the recipe (skips when unchanged).
Status EnsureShards(const std::string& recipe, const std::vector<std::string>& overrides, bool force);
// The recipe's export stage.
Status ExportRecipe(const std::string& recipe, const std::vector<std::string>& overrides);

}  // namespace st::cli
