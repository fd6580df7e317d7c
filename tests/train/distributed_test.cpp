// The launcher's environment -> the process group's world (torchrun, Slurm).
#include "train/distributed.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace st::train {
namespace {

const char* kVars[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                       "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_TASKS_PER_NODE",
                       "SLURM_NTASKS_PER_NODE", "SLURM_JOB_NODELIST", "SLURM_NODELIST"};

struct EnvGuard {
  explicit EnvGuard(std::vector<std::pair<std::string, std::string>> set) {
    for (const char* v : kVars) unsetenv(v);
    for (const auto& [k, v] : set) setenv(k.c_str(), v.c_str(), 1);
  }
  ~EnvGuard() {
    for (const char* v : kVars) unsetenv(v);
  }
};

TEST(World, SingleProcessWithoutLauncher) {
  EnvGuard g({});
  auto w = WorldFromEnvironment();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->world_size, 1);
  EXPECT_EQ(w->launcher, "single");
}

TEST(World, Torchrun) {
  EnvGuard g({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
              {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29411"}});
  auto w = WorldFromEnvironment();
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->launcher, "torchrun");
  EXPECT_EQ(w->rank, 3);
  EXPECT_EQ(w->world_size, 8);
  EXPECT_EQ(w->local_rank, 1);
  EXPECT_EQ(w->local_world_size, 2);
  EXPECT_EQ(w->master_addr, "node7");
  EXPECT_EQ(w->master_port, 29411);
}

TEST(World, Slurm) {
  EnvGuard g({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "6"}, {"SLURM_LOCALID", "2"}, {"SLURM_TASKS_PER_NODE", "3(x2)"},
              {"SLURM_JOB_NODELIST", "gpu[07-08],cpu1"}});
  auto w = WorldFromEnvironment();
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->launcher, "slurm");
  EXPECT_EQ(w->rank, 5);
  EXPECT_EQ(w->world_size, 6);
  EXPECT_EQ(w->local_rank, 2);
  EXPECT_EQ(w->local_world_size, 3);
  EXPECT_EQ(w->master_addr, "gpu07");
  EXPECT_EQ(w->master_port, 29500);
}

TEST(World, FirstSlurmHost) {
  EXPECT_EQ(FirstSlurmHost("node[01-04]"), "node01");
  EXPECT_EQ(FirstSlurmHost("node[3,5-7],x"), "node3");
  EXPECT_EQ(FirstSlurmHost("a,b"), "a");
  EXPECT_EQ(FirstSlurmHost("solo"), "solo");
}

TEST(World, BadEnvironmentNamesTheVariable) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> env;
    std::string want;
  } cases[] = {
      {{{"RANK", "0"}}, "WORLD_SIZE is not"},
      {{{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "rank 2 is not below the world size 2"},
      {{{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK='x'"},
      {{{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT=70000"},
  };
  for (const auto& c : cases) {
    EnvGuard g(c.env);
    auto w = WorldFromEnvironment();
    ASSERT_FALSE(w.ok()) << c.want;
    EXPECT_NE(w.status().message().find(c.want), std::string::npos) << w.status().message();
  }
}

}  // namespace
}  // namespace st::train
