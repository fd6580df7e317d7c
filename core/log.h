// Logging and progress. Log lines go to stderr; a Progress shows a bar with rate
// and ETA when stderr is a terminal and prints a plain line every few seconds
// otherwise (CI logs stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace st {

void LogInfo(const std::string& msg);
void LogWarn(const std::string& msg);

class Progress {
 public:
  // `total` < 0: open-ended (count and rate, no bar).
  // `start`: work already done before this run (a resumed job): rate and ETA count from it.
  Progress(std::string label, int64_t total, std::string unit = "it", int64_t start = 0);
  void Update(int64_t done, const std::string& extra = "");
  void Finish(const std::string& extra = "");

 private:
  void Print(bool final, const std::string& extra);
  std::string label_, unit_;
  int64_t total_, start_done_, done_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace st
