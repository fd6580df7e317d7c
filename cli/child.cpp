#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cli/commands.h"

extern char** environ;

namespace st::cli {

std::string TrainBinary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / "slicetune-train").string();
}

Status RunChild(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) return RuntimeError("cannot start " + argv[0] + " (" + std::strerror(rc) + "); is slicetune installed completely?");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return RuntimeError("waitpid failed for " + argv[0]);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (WIFEXITED(status))
    return Status(WEXITSTATUS(status) == 2 ? Code::kInvalidInput : Code::kRuntime,
                  argv[0] + " failed with exit code " + std::to_string(WEXITSTATUS(status)) + " (its message is above)");
  return RuntimeError(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
}

Status TrainInChild(const std::string& recipe, const std::vector<std::string>& overrides) {
  std::vector<std::string> argv = {TrainBinary(), recipe};
  for (const auto& o : overrides) {
    argv.push_back("--set");
    argv.push_back(o);
  }
  return RunChild(argv);
}

}  // namespace st::cli
