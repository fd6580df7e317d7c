// The data report's per-item lists, streamed as the merge finds them to JSON Lines
// files beside the report, because a corpus's documents with personal data and its
// duplicate clusters can number millions (held as JSON they were most of a big
// build's memory):
//   pii_documents.jsonl       {"source": "file:line", "counts": {"PHONE": 1, ...}}, corpus order
//   duplicate_clusters.jsonl  {"kept": source, "removed": [sources], "exact": bool}, by kept document
// data_report.json keeps the counts, the clusters by size, the documents with the most
// PII and the largest clusters (kTopListed of each, a cluster with its size and first
// kClusterMembersListed removed documents) for the Markdown and HTML pages.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/status.h"
#include "data/clean/pipeline.h"

namespace st::data {

inline constexpr const char* kPiiDocumentsFile = "pii_documents.jsonl";
inline constexpr const char* kDuplicateClustersFile = "duplicate_clusters.jsonl";
inline constexpr size_t kTopListed = 20;
inline constexpr size_t kClusterMembersListed = 5;  // removed documents named per cluster in the report

class ReportLists {
 public:
  // Creates both files in `dir` (each appears whole on Finish, empty when nothing is found).
  Status Open(const std::string& dir);
  Status AddPiiDocument(const std::string& source, const std::array<int64_t, kNumPiiTypes>& counts);
  Status AddCluster(const DupClusterReport& c);
  // Commits the files and adds the lists' summaries to the report's "clean" object:
  // clean.pii.{documents_file, documents_listed, top_documents} and
  // clean.duplicate_clusters.{count, file, by_size, largest}.
  Status Finish(nlohmann::json* clean);

 private:
  // The `kTopListed` rows of highest key, ties in arrival order (a stable sort's first rows).
  struct Top {
    std::vector<std::pair<int64_t, nlohmann::json>> rows;
    bool Takes(int64_t key) const { return rows.size() < kTopListed || key > rows.back().first; }
    void Add(int64_t key, const nlohmann::json& row);  // kept only if Takes(key)
    nlohmann::json List() const;
  };
  Status Write(AtomicFile* f, const nlohmann::json& row);

  AtomicFile pii_, clusters_;
  int64_t pii_count_ = 0, cluster_count_ = 0;
  std::map<int64_t, int64_t> cluster_sizes_;  // documents in the cluster -> clusters
  Top top_pii_, top_clusters_;
  std::string line_;
};

}  // namespace st::data
