// Runs fn(worker, i) for i in [0, n) on `threads` workers (i strided by worker), and waits.
#pragma once

#include <algorithm>
#include <thread>
#include <vector>

namespace st {

template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  threads = std::max(1, std::min<int>(threads, (int)n));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = t; i < n; i += threads) fn(t, i);
    });
  for (auto& th : pool) th.join();
}

}  // namespace st
