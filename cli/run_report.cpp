#include "cli/run_report.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/html.h"
#include "core/json_io.h"

namespace st::cli {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A section of the report: a title, lines of text, and links (relative to the run directory).
struct Section {
  std::string title;
  std::vector<std::string> lines;
  std::vector<std::pair<std::string, std::string>> links;  // label, relative path
};

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

Status WriteRunReports(const Recipe& r) {
  const fs::path dir = r.output_dir;
  auto exists = [&](const std::string& rel) { return PathExists((dir / rel).string()); };
  std::vector<Section> sections;

  Section data{"Data", {}, {}};
  if (auto m = ReadJsonFile((dir / "shards/manifest.json").string()); m.ok() && m->is_object()) {
    int64_t train_rows = 0, val_rows = 0, targets = 0;
    for (const auto& s : m->value("shards", json::array())) {
      (s.value("split", "") == "val" ? val_rows : train_rows) += s.value("sequences", (int64_t)0);
      targets += s.value("target_tokens", (int64_t)0);
    }
    data.lines.push_back(std::to_string(train_rows) + " train and " + std::to_string(val_rows) + " validation sequences, " +
                         std::to_string(targets) + " target tokens");
    for (const char* f : {"shards/data_report.html", "shards/data_report.md", "shards/manifest.json"})
      if (exists(f)) data.links.push_back({f, f});
  } else {
    data.lines.push_back("not built yet");
  }
  sections.push_back(data);

  Section train{"Training", {}, {}};
  if (auto t = ReadJsonFile((dir / "train_log.json").string()); t.ok() && t->is_object()) {
    train.lines.push_back("mode " + t->value("mode", std::string("lora")) + ", " + std::to_string(t->value("steps", 0)) +
                          " steps in " + Fmt("%.1f s", t->value("seconds", 0.0)) + ", loss " +
                          Fmt("%.4f", t->value("first_loss", 0.0)) + " -> " + Fmt("%.4f", t->value("final_loss", 0.0)) +
                          ", validation loss " + Fmt("%.4f", t->value("val_loss", 0.0)));
    train.links.push_back({"trained weights", fs::relative(TrainedDir(r), dir).string()});
    for (const char* f : {"train_report.html", "metrics.jsonl", "train_log.json"})
      if (exists(f)) train.links.push_back({f, f});
  } else {
    train.lines.push_back("not trained yet");
  }
  sections.push_back(train);

  Section eval{"Held-out evaluation", {}, {}};
  std::string eval_md;
  if (auto e = ReadFile((dir / "eval/eval.md").string()); e.ok()) {
    eval_md = *e;
    eval.links = {{"eval/eval.md", "eval/eval.md"}, {"eval/eval.json", "eval/eval.json"},
                  {"eval/predictions-after.json", "eval/predictions-after.json"}};
  } else {
    eval.lines.push_back(r.eval.data.empty() ? "the recipe has no eval section" : "not evaluated yet");
  }
  sections.push_back(eval);

  Section exp{"Exported files", {}, {}};
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "export", ec))
    if (e.is_regular_file(ec) && e.path().filename().string().find(".tmp") == std::string::npos) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const auto size = fs::file_size(dir / "export" / f, ec);
    exp.links.push_back({f + " (" + Fmt("%.1f MiB", (double)size / (1024.0 * 1024.0)) + ")", "export/" + f});
  }
  if (files.empty()) exp.lines.push_back("not exported yet");
  sections.push_back(exp);

  std::string md = "# Run report: " + r.name + "\n\nRecipe `" + r.file + "` (resolved: [recipe.resolved.yaml](recipe.resolved.yaml)), " +
                   "base model `" + r.base_model + "`.\n";
  std::string html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>slicetune run: " + HtmlEscape(r.name) +
                     "</title><style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
                     "td,th{border:1px solid #bbb;padding:.3em .6em}</style></head><body><h1>Run report: " +
                     HtmlEscape(r.name) + "</h1><p>Recipe <code>" + HtmlEscape(r.file) +
                     "</code> (<a href=\"recipe.resolved.yaml\">resolved</a>), base model <code>" + HtmlEscape(r.base_model) +
                     "</code>.</p>";
  for (const auto& s : sections) {
    md += "\n## " + s.title + "\n\n";
    html += "<h2>" + HtmlEscape(s.title) + "</h2>";
    for (const auto& l : s.lines) {
      md += l + "\n\n";
      html += "<p>" + HtmlEscape(l) + "</p>";
    }
    if (s.title == "Held-out evaluation" && !eval_md.empty()) {
      // The table of eval/eval.md, its heading dropped.
      std::string body = eval_md.substr(std::min(eval_md.size(), eval_md.find('\n') + 1));
      md += body + "\n";
      html += "<table>";
      size_t pos = 0;
      int row = 0;
      while (pos < body.size()) {
        size_t end = body.find('\n', pos);
        if (end == std::string::npos) end = body.size();
        const std::string line = body.substr(pos, end - pos);
        pos = end + 1;
        if (line.rfind("|", 0) != 0) {
          if (!line.empty()) html += "<caption>" + HtmlEscape(line) + "</caption>";
          continue;
        }
        if (line.rfind("|---", 0) == 0) continue;
        html += "<tr>";
        size_t a = 1;
        while (a < line.size()) {
          size_t b = line.find('|', a);
          if (b == std::string::npos) break;
          std::string cell = line.substr(a, b - a);
          cell.erase(0, cell.find_first_not_of(' '));
          cell.erase(cell.find_last_not_of(' ') + 1);
          html += (row == 0 ? "<th>" : "<td>") + HtmlEscape(cell) + (row == 0 ? "</th>" : "</td>");
          a = b + 1;
        }
        html += "</tr>";
        ++row;
      }
      html += "</table>";
    }
    if (!s.links.empty()) html += "<ul>";
    for (const auto& [label, rel] : s.links) {
      md += "- [" + label + "](" + rel + ")\n";
      html += "<li><a href=\"" + HtmlEscape(rel) + "\">" + HtmlEscape(label) + "</a></li>";
    }
    if (!s.links.empty()) html += "</ul>";
  }
  html += "</body></html>\n";
  ST_RETURN_IF_ERROR(WriteFileAtomic((dir / "run_report.md").string(), md));
  return WriteFileAtomic((dir / "run_report.html").string(), html);
}

}  // namespace st::cli
