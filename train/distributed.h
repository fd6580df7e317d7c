// Multi-process data parallel: the process group behind `slicetune train` when a
// launcher starts several copies of it, as clusters start jobs.
//
// The world comes from the environment, torchrun's variables first (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; see
// torch/distributed/run.py), else Slurm's (SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID, SLURM_NTASKS_PER_NODE / SLURM_TASKS_PER_NODE, the first host of
// SLURM_JOB_NODELIST unless MASTER_ADDR is set, MASTER_PORT or 29500). Rank 0
// hosts c10d's TCPStore; the ranks meet in a Gloo process group (CPU tensors).
// Only the adapter's gradients (and a few scalars) travel: one flat buffer per
// optimizer step, summed across ranks.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "core/status.h"

namespace st::train {

struct WorldInfo {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "single";  // single | torchrun | slurm
};

// Reads the launcher's variables; a single process when none are set. A partial
// or contradictory set (RANK without WORLD_SIZE, RANK >= WORLD_SIZE, a port out of
// range) is an InvalidInput error naming the variable.
StatusOr<WorldInfo> WorldFromEnvironment();

// "node[01-03],gpu7" -> "node01": the first host of a Slurm node list.
std::string FirstSlurmHost(const std::string& nodelist);

class Communicator {
 public:
  virtual ~Communicator() = default;
  // Joins the process group (waits for every rank up to `timeout_s`): Gloo on
  // CPU; with `cuda`, NCCL on GPU local_rank (made the current device).
  static StatusOr<std::unique_ptr<Communicator>> Connect(const WorldInfo& w, int timeout_s = 600, bool cuda = false);
  // In place: every rank ends with the elementwise sum over ranks (a tensor on
  // another device than the backend's goes through a copy).
  virtual Status AllReduceSum(at::Tensor& t) = 0;
  virtual Status Barrier() = 0;
  virtual const WorldInfo& world() const = 0;
};

}  // namespace st::train
