#include "train/distributed.h"

#include <c10/util/Exception.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <vector>

namespace st::train {
namespace {

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The variable as a non-negative integer; `*out` untouched when unset.
Status EnvInt(const char* name, int* out) {
  const char* v = Env(name);
  if (!v) return Status::Ok();
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (end == v || x < 0 || x > 1000000)
    return InvalidInput(std::string("environment variable ") + name + "='" + v + "': expected a non-negative integer");
  *out = (int)x;
  return Status::Ok();
}

// A c10d backend (Gloo on CPU tensors, NCCL on the GPU's) over a TCP store.
class BackendCommunicator : public Communicator {
 public:
  BackendCommunicator(WorldInfo w, c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::Backend> pg,
                      at::Device device)
      : world_(std::move(w)), store_(std::move(store)), pg_(std::move(pg)), device_(device) {}

  Status AllReduceSum(at::Tensor& t) override {
    try {
      const bool here = t.device() == device_;
      std::vector<at::Tensor> v{here ? t : t.to(device_)};
      pg_->allreduce(v)->wait();
      if (!here) t.copy_(v[0]);
      return Status::Ok();
    } catch (const std::exception& e) {
      return RuntimeError("all-reduce across " + std::to_string(world_.world_size) + " ranks failed on rank " +
                          std::to_string(world_.rank) + " (did another rank stop?): " + FirstLine(e.what()));
    }
  }

  Status Barrier() override {
    try {
      pg_->barrier()->wait();
      return Status::Ok();
    } catch (const std::exception& e) {
      return RuntimeError("barrier on rank " + std::to_string(world_.rank) + " failed: " + FirstLine(e.what()));
    }
  }

  const WorldInfo& world() const override { return world_; }

  static std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

 private:
  WorldInfo world_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> pg_;
  at::Device device_;
};

}  // namespace

std::string FirstSlurmHost(const std::string& list) {
  // "a[01-03,7],b" -> "a01"; "a,b" -> "a".
  std::string first;
  size_t i = 0;
  while (i < list.size() && list[i] != ',' && list[i] != '[') first += list[i++];
  if (i < list.size() && list[i] == '[') {
    ++i;
    std::string num;
    while (i < list.size() && list[i] != '-' && list[i] != ',' && list[i] != ']') num += list[i++];
    first += num;
  }
  return first;
}

StatusOr<WorldInfo> WorldFromEnvironment() {
  WorldInfo w;
  if (Env("RANK") || Env("WORLD_SIZE")) {
    if (!Env("RANK") || !Env("WORLD_SIZE"))
      return InvalidInput(std::string("environment: ") + (Env("RANK") ? "RANK" : "WORLD_SIZE") + " is set but " +
                          (Env("RANK") ? "WORLD_SIZE" : "RANK") + " is not; a torchrun-style launch sets both");
    w.launcher = "torchrun";
    ST_RETURN_IF_ERROR(EnvInt("RANK", &w.rank));
    ST_RETURN_IF_ERROR(EnvInt("WORLD_SIZE", &w.world_size));
    w.local_rank = w.rank;
    w.local_world_size = w.world_size;
    ST_RETURN_IF_ERROR(EnvInt("LOCAL_RANK", &w.local_rank));
    ST_RETURN_IF_ERROR(EnvInt("LOCAL_WORLD_SIZE", &w.local_world_size));
  } else if (Env("SLURM_PROCID") && Env("SLURM_NTASKS")) {
    w.launcher = "slurm";
    ST_RETURN_IF_ERROR(EnvInt("SLURM_PROCID", &w.rank));
    ST_RETURN_IF_ERROR(EnvInt("SLURM_NTASKS", &w.world_size));
    w.local_rank = w.rank;
    ST_RETURN_IF_ERROR(EnvInt("SLURM_LOCALID", &w.local_rank));
    w.local_world_size = w.world_size;
    if (const char* t = Env("SLURM_TASKS_PER_NODE")) w.local_world_size = std::max(1, std::atoi(t));  // "2(x3)" -> 2
    ST_RETURN_IF_ERROR(EnvInt("SLURM_NTASKS_PER_NODE", &w.local_world_size));
    if (const char* nodes = Env("SLURM_JOB_NODELIST") ? Env("SLURM_JOB_NODELIST") : Env("SLURM_NODELIST"))
      w.master_addr = FirstSlurmHost(nodes);
  } else {
    return w;
  }
  if (w.world_size < 1) return InvalidInput("environment: the world size must be at least 1");
  if (w.rank >= w.world_size)
    return InvalidInput("environment: rank " + std::to_string(w.rank) + " is not below the world size " +
                        std::to_string(w.world_size));
  if (const char* a = Env("MASTER_ADDR")) w.master_addr = a;
  ST_RETURN_IF_ERROR(EnvInt("MASTER_PORT", &w.master_port));
  if (w.master_port < 1 || w.master_port > 65535)
    return InvalidInput("environment: MASTER_PORT=" + std::to_string(w.master_port) + " is not a TCP port");
  w.local_world_size = std::max(1, w.local_world_size);
  return w;
}

StatusOr<std::unique_ptr<Communicator>> Communicator::Connect(const WorldInfo& w, int timeout_s, bool cuda) {
  if (cuda && w.local_rank >= (int)c10::cuda::device_count())
    return InvalidInput("rank " + std::to_string(w.rank) + ": local rank " + std::to_string(w.local_rank) +
                        " has no GPU (this machine has " + std::to_string((int)c10::cuda::device_count()) +
                        "); start one process per GPU");
  try {
    c10d::TCPStoreOptions so;
    so.port = (uint16_t)w.master_port;
    so.isServer = w.rank == 0;
    so.numWorkers = w.world_size;
    so.timeout = std::chrono::seconds(timeout_s);
    auto store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, so);
    if (cuda) {
      c10::cuda::set_device((c10::DeviceIndex)w.local_rank);
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = std::chrono::seconds(timeout_s);
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, w.rank, w.world_size, opts);
      return std::unique_ptr<Communicator>(
          new BackendCommunicator(w, store, pg, at::Device(at::kCUDA, (c10::DeviceIndex)w.local_rank)));
    }
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = std::chrono::seconds(timeout_s);
    // The interface that reaches the store's host (loopback for a one-machine job).
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(w.master_addr));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, w.rank, w.world_size, opts);
    return std::unique_ptr<Communicator>(new BackendCommunicator(w, store, pg, at::Device(at::kCPU)));
  } catch (const std::exception& e) {
    std::string m = e.what();
    return RuntimeError("rank " + std::to_string(w.rank) + " of " + std::to_string(w.world_size) +
                        " could not join the process group at " + w.master_addr + ":" + std::to_string(w.master_port) +
                        " (" + m.substr(0, m.find('\n')) + "); check MASTER_ADDR / MASTER_PORT and that every rank started");
  }
}

}  // namespace st::train
