#include "data/shards/report.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <vector>

#include "core/file_io.h"
#include "core/html.h"

namespace st::data {
namespace {

using json = nlohmann::json;
using Bars = std::vector<std::pair<std::string, int64_t>>;

std::string Html(const std::string& s) { return HtmlEscape(s); }

std::string Md(const std::string& s) {  // a table cell
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n') o += ' ';
    else o += c;
  }
  return o;
}

std::string Num(int64_t v) {
  std::string s = std::to_string(v), o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0 && s[i - 1] != '-') o += ',';
    o += s[i];
  }
  return o;
}

int64_t I(const json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<int64_t>() : 0; }

// "... and N more files" under the input-file table when the report lists only some.
std::string MoreFiles(const json& r) {
  if (!r.contains("files_total")) return "";
  const json& t = r["files_total"];
  const int64_t more = I(t, "count") - I(t, "listed");
  if (more <= 0) return "";
  return Num(more) + " more files not listed (the files with a problem come first); " + Num(I(t, "count")) +
         " files in all, " + Num(I(t, "bytes")) + " bytes, " + Num(I(t, "documents")) + " documents.";
}

// A horizontal bar chart as inline SVG.
std::string SvgBars(const std::string& title, const Bars& bars) {
  std::string o = "<figure><figcaption>" + Html(title) + "</figcaption>";
  if (bars.empty()) return o + "<p class=none>none</p></figure>\n";
  int64_t max = 1;
  for (const auto& b : bars) max = std::max(max, b.second);
  const int row = 22, label_w = 190, bar_w = 420, h = row * (int)bars.size() + 4;
  char buf[512];
  std::snprintf(buf, sizeof buf, "<svg role=img width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">", label_w + bar_w + 90, h,
                label_w + bar_w + 90, h);
  o += buf;
  for (size_t i = 0; i < bars.size(); ++i) {
    const int y = (int)i * row + 2;
    const int w = (int)((double)bars[i].second / (double)max * bar_w + 0.5);
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text><rect x=\"%d\" y=\"%d\" width=\"%d\" "
                  "height=\"%d\"/><text x=\"%d\" y=\"%d\">%s</text>",
                  label_w - 6, y + 15, Html(bars[i].first).c_str(), label_w, y + 3, std::max(w, 1), row - 6,
                  label_w + std::max(w, 1) + 6, y + 15, Num(bars[i].second).c_str());
    o += buf;
  }
  return o + "</svg></figure>\n";
}

std::string MdBars(const std::string& title, const std::string& key, const Bars& bars) {
  std::string o = "### " + title + "\n\n";
  if (bars.empty()) return o + "none\n\n";
  int64_t max = 1;
  for (const auto& b : bars) max = std::max(max, b.second);
  o += "| " + key + " | count | |\n|---|---:|---|\n";
  for (const auto& [k, v] : bars)
    o += "| " + Md(k) + " | " + Num(v) + " | " + std::string((size_t)(20.0 * v / max + 0.5), '#') + " |\n";
  return o + "\n";
}

}  // namespace

json CleanReportJson(const CleanReport& c) {
  json removed = json::object();
  for (const auto& [k, v] : c.removed) removed[k] = v;
  json pii_found = json::object(), pii_replaced = json::object();
  for (int t = 0; t < kNumPiiTypes; ++t) {
    const char* name = PiiTypeName(static_cast<PiiType>(t));
    pii_found[name] = c.deid.found[t];
    pii_replaced[name] = c.deid.replaced[t];
  }
  const auto& n = c.normalize;
  json augmented = json::object();
  for (const auto& [k, v] : c.augmented) augmented[k] = v;
  return {{"documents_in", c.documents_in},
          {"augmented", augmented},
          {"documents_out", c.documents_out},
          {"removed", removed},
          {"normalize", {{"documents_changed", n.documents_changed}, {"nfc", n.nfc}, {"fullwidth", n.fullwidth},
                         {"controls", n.controls}, {"whitespace", n.whitespace}, {"t2s", n.t2s}}},
          {"pii", {{"found", pii_found}, {"replaced", pii_replaced}, {"documents_with_pii", c.deid.documents_with_pii},
                   {"rejected_candidates", c.deid.rejected}, {"allowed", c.deid.allowed}}}};
}

CleanReport CleanReportFromJson(const json& j) {
  CleanReport c;
  c.documents_in = j.value("documents_in", (int64_t)0);
  c.documents_out = j.value("documents_out", (int64_t)0);
  if (j.contains("removed"))
    for (const auto& [k, v] : j["removed"].items()) c.removed[k] = v.get<int64_t>();
  if (j.contains("augmented"))
    for (const auto& [k, v] : j["augmented"].items()) c.augmented[k] = v.get<int64_t>();
  if (j.contains("normalize")) {
    const json& n = j["normalize"];
    c.normalize.documents_changed = n.value("documents_changed", (int64_t)0);
    c.normalize.nfc = n.value("nfc", (int64_t)0);
    c.normalize.fullwidth = n.value("fullwidth", (int64_t)0);
    c.normalize.controls = n.value("controls", (int64_t)0);
    c.normalize.whitespace = n.value("whitespace", (int64_t)0);
    c.normalize.t2s = n.value("t2s", (int64_t)0);
  }
  if (j.contains("pii")) {
    const json& p = j["pii"];
    for (int t = 0; t < kNumPiiTypes; ++t) {
      const char* name = PiiTypeName(static_cast<PiiType>(t));
      c.deid.found[t] = p["found"].value(name, (int64_t)0);
      c.deid.replaced[t] = p["replaced"].value(name, (int64_t)0);
    }
    c.deid.documents_with_pii = p.value("documents_with_pii", (int64_t)0);
    c.deid.rejected = p.value("rejected_candidates", (int64_t)0);
    c.deid.allowed = p.value("allowed", (int64_t)0);
  }
  return c;
}

Status WriteDataReport(const std::string& dir, const json& r) {
  namespace fs = std::filesystem;
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(dir) / "data_report.json").string(), r.dump(2) + "\n"));
  const json empty = json::object();
  const json& clean = r.contains("clean") ? r["clean"] : empty;
  Bars lengths, removed, pii, cluster_sizes;
  if (r.contains("sample_length_histogram"))
    for (const auto& [k, v] : r["sample_length_histogram"].items()) lengths.emplace_back(k + " tokens", v.get<int64_t>());
  std::sort(lengths.begin(), lengths.end(), [](const auto& a, const auto& b) {
    return std::stoll(a.first.substr(2)) < std::stoll(b.first.substr(2));
  });
  if (clean.contains("removed"))
    for (const auto& [k, v] : clean["removed"].items()) removed.emplace_back(k, v.get<int64_t>());
  if (clean.contains("pii"))
    for (const auto& [k, v] : clean["pii"]["found"].items())
      if (v.get<int64_t>() > 0) pii.emplace_back(k, v.get<int64_t>());
  std::map<int64_t, int64_t> sizes;
  const json& dups = clean.contains("duplicate_clusters") ? clean["duplicate_clusters"] : empty;
  if (dups.contains("by_size"))
    for (const auto& [k, v] : dups["by_size"].items()) sizes[std::stoll(k)] = v.get<int64_t>();
  for (const auto& [s, n] : sizes) cluster_sizes.emplace_back(std::to_string(s) + " documents", n);
  const json& pii_info = clean.contains("pii") ? clean["pii"] : empty;
  // The largest clusters and the documents with the most PII: their first rows, the
  // rest in the JSON Lines files the report names.
  std::vector<std::array<std::string, 3>> cluster_rows;
  if (dups.contains("largest"))
    for (const auto& c : dups["largest"]) {
      std::string rem;
      const int64_t n = I(c, "size") - 1;
      for (size_t k = 0; k < c["removed"].size(); ++k) rem += (k ? ", " : "") + c["removed"][k].get<std::string>();
      if (n > (int64_t)c["removed"].size()) rem += ", … (" + Num(n) + ")";
      cluster_rows.push_back({c.value("kept", ""), rem, c.value("exact", false) ? "exact" : "near"});
    }
  std::vector<std::array<std::string, 2>> pii_rows;
  if (pii_info.contains("top_documents"))
    for (const auto& d : pii_info["top_documents"]) {
      std::string counts;
      for (const auto& [k, v] : d["counts"].items()) counts += (counts.empty() ? "" : ", ") + k + " " + Num(v.get<int64_t>());
      pii_rows.push_back({d.value("source", ""), counts});
    }
  auto all_in = [&](const json& j, const char* count, const char* file, const char* what) {
    return "All " + Num(I(j, count)) + " " + what + ": " + j.value(file, std::string("")) + " (JSON Lines, beside this report).";
  };

  const int64_t docs_in = I(clean, "documents_in"), docs_out = I(clean, "documents_out");
  const json& issues = r.contains("issues") ? r["issues"] : empty;
  // Markdown.
  std::string md = "# Data report: " + r.value("recipe", std::string("")) + "\n\n";
  md += "| | |\n|---|---:|\n";
  md += "| documents read | " + Num(docs_in) + " |\n| documents kept | " + Num(docs_out) + " |\n";
  md += "| train / val documents | " + Num(I(r, "train_documents")) + " / " + Num(I(r, "val_documents")) + " |\n";
  md += "| train / val sequences | " + Num(I(r, "train_sequences")) + " / " + Num(I(r, "val_sequences")) + " |\n";
  md += "| tokens (trained on) | " + Num(I(r, "real_tokens")) + " (" + Num(I(r, "target_tokens")) + ") |\n";
  char pad[32];
  std::snprintf(pad, sizeof pad, "%.1f%%", 100.0 * r.value("padding_ratio", 0.0));
  md += std::string("| padding | ") + pad + " |\n| truncated samples | " + Num(I(r, "truncated_samples")) + " |\n";
  md += "| input problems | " + Num(I(issues, "count")) + " |\n\n";
  md += MdBars("Sample length", "length", lengths) + MdBars("Removed, by reason", "reason", removed) +
        MdBars("Personal data found, by type", "type", pii) + MdBars("Duplicate clusters, by size", "size", cluster_sizes);
  if (!pii_rows.empty()) {
    md += "### Documents with the most personal data\n\n| document | found |\n|---|---|\n";
    for (const auto& [src, counts] : pii_rows) md += "| " + Md(src) + " | " + Md(counts) + " |\n";
    md += "\n" + all_in(pii_info, "documents_listed", "documents_file", "documents with personal data") + "\n\n";
  }
  if (!cluster_rows.empty()) {
    md += "### Largest duplicate clusters\n\n| kept | removed | kind |\n|---|---|---|\n";
    for (const auto& [kept, rem, kind] : cluster_rows) md += "| " + Md(kept) + " | " + Md(rem) + " | " + kind + " |\n";
    md += "\n" + all_in(dups, "count", "file", "clusters") + "\n\n";
  }
  if (r.contains("files")) {
    md += "### Input files\n\n| file | encoding | bytes | invalid bytes | documents |\n|---|---|---:|---:|---:|\n";
    for (const auto& f : r["files"])
      md += "| " + Md(f.value("path", "")) + " | " + f.value("encoding", "") + " | " + Num(I(f, "bytes")) + " | " +
            Num(I(f, "invalid_bytes")) + " | " + Num(I(f, "documents")) + " |\n";
    md += "\n" + MoreFiles(r) + (MoreFiles(r).empty() ? "" : "\n\n");
  }
  if (issues.contains("listed") && !issues["listed"].empty()) {
    md += "### Input problems (skipped)\n\n| where | problem |\n|---|---|\n";
    for (const auto& is : issues["listed"]) md += "| " + Md(is.value("where", "")) + " | " + Md(is.value("what", "")) + " |\n";
    md += "\n";
  }
  // HTML.
  std::string h =
      "<!doctype html><html lang=en><head><meta charset=utf-8><title>Data report: " + Html(r.value("recipe", std::string(""))) +
      "</title><style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em;color:#222}"
      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
      "td.n{text-align:right}figure{margin:1.2em 0}figcaption{font-weight:600;margin-bottom:.3em}"
      "svg text{font:12px system-ui,sans-serif;fill:#222}svg rect{fill:#3b6fb6}.none{color:#777}"
      ".cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em}"
      ".card b{display:block;font-size:1.4em}</style></head><body>\n";
  h += "<h1>Data report: " + Html(r.value("recipe", std::string(""))) + "</h1>\n<div class=cards>";
  auto card = [&](const std::string& k, const std::string& v) { h += "<div class=card><b>" + Html(v) + "</b>" + Html(k) + "</div>"; };
  card("documents read", Num(docs_in));
  card("documents kept", Num(docs_out));
  card("train / val sequences", Num(I(r, "train_sequences")) + " / " + Num(I(r, "val_sequences")));
  card("tokens trained on", Num(I(r, "target_tokens")));
  card("padding", pad);
  card("input problems", Num(I(issues, "count")));
  h += "</div>\n";
  h += SvgBars("Sample length (tokens)", lengths) + SvgBars("Removed, by reason", removed) +
       SvgBars("Personal data found, by type", pii) + SvgBars("Duplicate clusters, by size", cluster_sizes);
  if (!pii_rows.empty()) {
    h += "<h2>Documents with the most personal data</h2><table><tr><th>document</th><th>found</th></tr>";
    for (const auto& [src, counts] : pii_rows) h += "<tr><td>" + Html(src) + "</td><td>" + Html(counts) + "</td></tr>";
    h += "</table>\n<p>" + Html(all_in(pii_info, "documents_listed", "documents_file", "documents with personal data")) + "</p>\n";
  }
  if (!cluster_rows.empty()) {
    h += "<h2>Largest duplicate clusters</h2><table><tr><th>kept</th><th>removed</th><th>kind</th></tr>";
    for (const auto& [kept, rem, kind] : cluster_rows)
      h += "<tr><td>" + Html(kept) + "</td><td>" + Html(rem) + "</td><td>" + kind + "</td></tr>";
    h += "</table>\n<p>" + Html(all_in(dups, "count", "file", "clusters")) + "</p>\n";
  }
  if (r.contains("files")) {
    h += "<h2>Input files</h2><table><tr><th>file</th><th>encoding</th><th>bytes</th><th>invalid bytes</th><th>documents</th></tr>";
    for (const auto& f : r["files"])
      h += "<tr><td>" + Html(f.value("path", "")) + "</td><td>" + Html(f.value("encoding", "")) + "</td><td class=n>" +
           Num(I(f, "bytes")) + "</td><td class=n>" + Num(I(f, "invalid_bytes")) + "</td><td class=n>" + Num(I(f, "documents")) + "</td></tr>";
    h += "</table>\n";
    if (!MoreFiles(r).empty()) h += "<p>" + Html(MoreFiles(r)) + "</p>\n";
  }
  if (issues.contains("listed") && !issues["listed"].empty()) {
    h += "<h2>Input problems (skipped)</h2><table><tr><th>where</th><th>problem</th></tr>";
    for (const auto& is : issues["listed"])
      h += "<tr><td>" + Html(is.value("where", "")) + "</td><td>" + Html(is.value("what", "")) + "</td></tr>";
    h += "</table>\n";
  }
  h += "</body></html>\n";
  ST_RETURN_IF_ERROR(WriteFileAtomic((fs::path(dir) / "data_report.md").string(), md));
  return WriteFileAtomic((fs::path(dir) / "data_report.html").string(), h);
}

}  // namespace st::data
