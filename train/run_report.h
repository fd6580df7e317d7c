// The training run report: <output_dir>/train_report.html, self-contained
// (inline SVG line charts, no scripts, no network), with the loss, learning-rate
// and throughput curves, the validation table (loss and perplexity, the
// baseline before the first step included) and the run's summary. Written from
// the run's log (train_log.json's "log": per step {step, loss, lr, tokens,
// tokens_per_second}, per evaluation {step, val_loss, val_ppl}).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace st::train {

std::string RunReportHtml(const nlohmann::json& summary);
Status WriteRunReport(const std::string& path, const nlohmann::json& summary);

}  // namespace st::train
