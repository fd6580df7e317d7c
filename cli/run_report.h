// The run report of `slicetune run`: <output_dir>/run_report.md and
// run_report.html, one page that links what every stage wrote (the data report,
// the training report, the held-out evaluation, the exported files) with the
// headline numbers of each, so a person sees the slice's state at a glance.
#pragma once

#include "core/recipe.h"
#include "core/status.h"

namespace st::cli {

// Reads what exists under r.output_dir; a stage that has not run is listed as such.
Status WriteRunReports(const Recipe& r);

}  // namespace st::cli
