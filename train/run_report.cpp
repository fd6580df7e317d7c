#include "train/run_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/file_io.h"
#include "core/html.h"

namespace st::train {
namespace {

using json = nlohmann::json;
using Series = std::vector<std::pair<double, double>>;  // (step, value)

std::string Fmt(double v, const char* f = "%.4g") {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// A line chart of one series, axes labelled with the extremes.
std::string SvgLine(const std::string& title, const Series& s, const std::string& unit) {
  std::string o = "<figure><figcaption>" + HtmlEscape(title) + "</figcaption>";
  if (s.empty()) return o + "<p class=none>no data</p></figure>\n";
  double x0 = s.front().first, x1 = s.front().first, y0 = s.front().second, y1 = s.front().second;
  for (const auto& [x, y] : s) {
    x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const int W = 640, H = 200, L = 70, B = 24, T = 8, R = 12;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return T + (1 - (y - y0) / (y1 - y0)) * (H - T - B); };
  o += "<svg role=img width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) + "\" viewBox=\"0 0 " +
       std::to_string(W) + " " + std::to_string(H) + "\">";
  o += "<line x1=\"" + std::to_string(L) + "\" y1=\"" + std::to_string(H - B) + "\" x2=\"" + std::to_string(W - R) +
       "\" y2=\"" + std::to_string(H - B) + "\" class=axis />";
  o += "<line x1=\"" + std::to_string(L) + "\" y1=\"" + std::to_string(T) + "\" x2=\"" + std::to_string(L) + "\" y2=\"" +
       std::to_string(H - B) + "\" class=axis />";
  o += "<text x=\"" + std::to_string(L - 4) + "\" y=\"" + std::to_string(T + 10) + "\" text-anchor=end>" + Fmt(y1) + "</text>";
  o += "<text x=\"" + std::to_string(L - 4) + "\" y=\"" + std::to_string(H - B) + "\" text-anchor=end>" + Fmt(y0) + "</text>";
  o += "<text x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(H - 6) + "\">step " + Fmt(x0, "%.0f") + "</text>";
  o += "<text x=\"" + std::to_string(W - R) + "\" y=\"" + std::to_string(H - 6) + "\" text-anchor=end>step " +
       Fmt(x1, "%.0f") + " (" + HtmlEscape(unit) + ")</text>";
  std::string pts;
  for (const auto& [x, y] : s) pts += Fmt(px(x), "%.1f") + "," + Fmt(py(y), "%.1f") + " ";
  o += "<polyline points=\"" + pts + "\" />";
  return o + "</svg></figure>\n";
}

double Num(const json& j, const char* k, double def = 0) {
  return j.contains(k) && j[k].is_number() ? j[k].get<double>() : def;
}

}  // namespace

std::string RunReportHtml(const json& sum) {
  Series loss, lr, speed;
  std::vector<const json*> evals;
  int64_t skipped = 0;
  const json log = sum.value("log", json::array());  // evals points into it: it must outlive the table below
  for (const auto& e : log) {
    if (e.contains("val_loss") || e.contains("exact_match")) evals.push_back(&e);
    if (e.value("skipped", false)) ++skipped;
    if (!e.contains("loss")) continue;
    const double step = Num(e, "step");
    loss.emplace_back(step, Num(e, "loss"));
    lr.emplace_back(step, Num(e, "lr"));
    if (e.contains("tokens_per_second")) speed.emplace_back(step, Num(e, "tokens_per_second"));
  }
  const std::string name = sum.value("recipe", std::string("run"));
  std::string h =
      "<!doctype html><html lang=en><head><meta charset=utf-8><title>Training report: " + HtmlEscape(name) +
      "</title><style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em;color:#222}"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
      "td.n{text-align:right}figure{margin:1.2em 0}figcaption{font-weight:600;margin-bottom:.3em}"
      "svg text{font:12px system-ui,sans-serif;fill:#222}svg polyline{fill:none;stroke:#3b6fb6;stroke-width:1.5}"
      "svg .axis{stroke:#888}.none{color:#777}.cards{display:flex;gap:1em;flex-wrap:wrap}"
      ".card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em}.card b{display:block;font-size:1.4em}"
      "</style></head><body>\n<h1>Training report: " + HtmlEscape(name) + "</h1>\n<div class=cards>";
  auto card = [&](const std::string& k, const std::string& v) {
    h += "<div class=card><b>" + HtmlEscape(v) + "</b>" + HtmlEscape(k) + "</div>";
  };
  card("steps", Fmt(Num(sum, "steps"), "%.0f"));
  card("train loss, first -> last", Fmt(Num(sum, "first_loss")) + " -> " + Fmt(Num(sum, "final_loss")));
  card("validation loss", Num(sum, "val_loss", -1) >= 0 ? Fmt(Num(sum, "val_loss")) : std::string("no val split"));
  card("tokens trained on", Fmt(Num(sum, "target_tokens"), "%.0f"));
  card("tokens / s", Fmt(Num(sum, "tokens_per_second"), "%.0f"));
  card("skipped steps", std::to_string(skipped));
  h += "</div>\n";
  h += SvgLine("Training loss", loss, "mean loss per target token");
  h += SvgLine("Learning rate", lr, "per optimizer step");
  h += SvgLine("Throughput", speed, "target tokens / s");
  h += "<h2>Evaluation</h2>\n";
  if (evals.empty()) {
    h += "<p class=none>no validation split</p>\n";
  } else {
    // Task metrics (the recipe's eval section) get their own columns when present.
    const bool task = evals.front()->contains("exact_match");
    h += "<table><tr><th>step</th><th>validation loss</th><th>perplexity</th>";
    if (task) h += "<th>exact match</th><th>correction F1</th><th>character F1</th>";
    h += "</tr>\n";
    auto cell = [&](const json& e, const char* k) {
      return "<td class=n>" + (e.contains(k) ? Fmt(Num(e, k)) : std::string("&ndash;")) + "</td>";
    };
    for (const json* e : evals) {
      h += "<tr><td class=n>" + Fmt(Num(*e, "step"), "%.0f") + (Num(*e, "step") == 0 ? " (baseline)" : "") + "</td>" +
           cell(*e, "val_loss") + cell(*e, "val_ppl");
      if (task) h += cell(*e, "exact_match") + cell(*e, "correction_f1") + cell(*e, "char_f1");
      h += "</tr>\n";
    }
    h += "</table>\n";
  }
  h += "</body></html>\n";
  return h;
}

Status WriteRunReport(const std::string& path, const json& summary) { return WriteFileAtomic(path, RunReportHtml(summary)); }

}  // namespace st::train
