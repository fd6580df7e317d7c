// The data report a person reads after `data build`: data_report.json (everything,
// for scripts), data_report.md (the same at a glance, for a terminal or a merge
// request) and data_report.html (self-contained, inline SVG charts, no scripts):
// length histogram, removals by reason, PII by type, duplicate clusters, input problems.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "data/clean/pipeline.h"

namespace st::data {

// The counts only: the merge adds the per-document PII rows and the duplicate
// clusters, which it streams to their own files (DataReportFiles).
nlohmann::json CleanReportJson(const CleanReport& c);
CleanReport CleanReportFromJson(const nlohmann::json& j);

// Writes the three files into `dir` (each atomically).
Status WriteDataReport(const std::string& dir, const nlohmann::json& report);

}  // namespace st::data
