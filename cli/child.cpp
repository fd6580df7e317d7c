#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "cli/commands.h"
#include "core/file_io.h"
#include "core/recipe.h"

extern char** environ;

namespace st::cli {
namespace fs = std::filesystem;

std::string TrainBinary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / "slicetune-train").string();
}

namespace {
volatile pid_t g_child = 0;
void ForwardToChild(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}
}  // namespace

Status RunChild(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) return RuntimeError("cannot start " + argv[0] + " (" + std::strerror(rc) + "); is slicetune installed completely?");
  // Ctrl-C reaches the child too (same process group); it decides what to do
  // (slicetune-train saves a checkpoint), and we wait for it instead of dying
  // first. A SIGTERM sent to us alone (a job scheduler) is passed on to it.
  g_child = pid;
  struct sigaction ignore {}, forward {}, old_int {}, old_term {};
  ignore.sa_handler = SIG_IGN;
  forward.sa_handler = ForwardToChild;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGTERM, &forward, &old_term);
  int status = 0;
  int rc_wait;
  while ((rc_wait = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_child = 0;
  if (rc_wait < 0) return RuntimeError("waitpid failed for " + argv[0]);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status))
    return Status(WEXITSTATUS(status) == 2 ? Code::kInvalidInput : Code::kRuntime,
                  argv[0] + " failed with exit code " + std::to_string(WEXITSTATUS(status)) + " (its message is above)");
  return RuntimeError(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
}

namespace {

// <output_dir>/task_eval.json for the training loop's task metrics (data/eval/task_set.h).
Status PrepareTaskEval(const Recipe& r) {
  const std::string path = (fs::path(r.output_dir) / "task_eval.json").string();
  if (r.eval.data.empty()) {
    std::error_code ec;
    fs::remove(path, ec);  // a stale set from an earlier version of the recipe
    return Status::Ok();
  }
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(r.base_model));
  EvalPairsSpec spec{r.base_model, r.eval.data, r.eval.input_field, r.eval.output_field, r.eval.source_field,
                     r.eval.system, r.data.template_name,
                     r.data.template_name == "none", r.eval.limit, "eval.input_field / eval.output_field in " + r.file};
  ST_ASSIGN_OR_RETURN(data::TaskSet set, ReadEvalPairs(*tok, spec));
  set.token_bytes = data::TokenBytesTable(*tok, &set.strip_leading_space);
  set.max_new_tokens = r.eval.max_new_tokens;
  set.sql_scripts = r.eval.sqlite;
  ST_RETURN_IF_ERROR(MakeDirs(r.output_dir));
  return data::WriteTaskSet(set, path);
}

}  // namespace

Status TrainInChild(const std::string& recipe, const std::vector<std::string>& overrides, bool resume,
                    const std::string& slice, bool skip_current) {
  {
    ST_ASSIGN_OR_RETURN(std::vector<Recipe> all, LoadRecipes(recipe, overrides, slice));
    for (const Recipe& r : all) ST_RETURN_IF_ERROR(PrepareTaskEval(r));
  }
  std::vector<std::string> argv = {TrainBinary(), recipe};
  if (resume) argv.push_back("--resume");
  if (skip_current) argv.push_back("--skip-current");
  if (!slice.empty()) {
    argv.push_back("--slice");
    argv.push_back(slice);
  }
  for (const auto& o : overrides) {
    argv.push_back("--set");
    argv.push_back(o);
  }
  return RunChild(argv);
}

void AddSliceOption(CLI::App* cmd, std::string* slice) {
  cmd->add_option("--slice", *slice, "Only this slice of a recipe with a `slices:` list (default: every slice)");
}

}  // namespace st::cli
