#include "core/log.h"

#include <unistd.h>

#include <cstdio>

namespace st {

void LogInfo(const std::string& msg) { std::fprintf(stderr, "slicetune: %s\n", msg.c_str()); }
void LogWarn(const std::string& msg) { std::fprintf(stderr, "slicetune: warning: %s\n", msg.c_str()); }

Progress::Progress(std::string label, int64_t total, std::string unit, int64_t start)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), start_done_(start), done_(start), tty_(::isatty(2)) {
  start_ = last_print_ = std::chrono::steady_clock::now();
}

void Progress::Update(int64_t done, const std::string& extra) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if (since >= (tty_ ? 0.1 : 5.0)) {
    last_print_ = now;
    Print(false, extra);
  }
}

void Progress::Finish(const std::string& extra) {
  if (total_ >= 0) done_ = total_;
  Print(true, extra);
}

void Progress::Print(bool final, const std::string& extra) {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = el > 0 ? (done_ - start_done_) / el : 0.0;
  double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
  if (total_ < 0) {  // open-ended: a count and a rate
    std::fprintf(stderr, tty_ ? "\r%s %lld %s (%.1f %s/s) %s\033[K%s" : "slicetune: %s %lld %s (%.1f %s/s) %s%s\n",
                 label_.c_str(), (long long)done_, unit_.c_str(), rate, unit_.c_str(), extra.c_str(),
                 tty_ ? (final ? "\n" : "") : "");
    return;
  }
  if (tty_) {
    int width = 30, fill = total_ > 0 ? (int)(width * done_ / total_) : width;
    std::string bar(fill, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %.1f %s/s eta %.0fs %s\033[K%s", label_.c_str(), bar.c_str(),
                 (long long)done_, (long long)total_, rate, unit_.c_str(), eta, extra.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "slicetune: %s %lld/%lld (%.1f %s/s, eta %.0fs) %s\n", label_.c_str(), (long long)done_,
                 (long long)total_, rate, unit_.c_str(), eta, extra.c_str());
  }
}

}  // namespace st
