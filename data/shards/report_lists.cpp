#include "data/shards/report_lists.h"

#include <algorithm>
#include <filesystem>

namespace st::data {

using json = nlohmann::json;

void ReportLists::Top::Add(int64_t key, const json& row) {
  if (!Takes(key)) return;
  // After every row of the same or a higher key: equal keys keep arrival order.
  auto at = std::upper_bound(rows.begin(), rows.end(), key, [](int64_t k, const auto& r) { return k > r.first; });
  rows.insert(at, {key, row});
  if (rows.size() > kTopListed) rows.pop_back();
}

json ReportLists::Top::List() const {
  json l = json::array();
  for (const auto& r : rows) l.push_back(r.second);
  return l;
}

Status ReportLists::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  ST_RETURN_IF_ERROR(pii_.Open((fs::path(dir) / kPiiDocumentsFile).string()));
  return clusters_.Open((fs::path(dir) / kDuplicateClustersFile).string());
}

Status ReportLists::Write(AtomicFile* f, const json& row) {
  line_ = row.dump();
  line_ += '\n';
  return f->Write(line_.data(), line_.size());
}

Status ReportLists::AddPiiDocument(const std::string& source, const std::array<int64_t, kNumPiiTypes>& counts) {
  json c = json::object();
  int64_t total = 0;
  for (int t = 0; t < kNumPiiTypes; ++t)
    if (counts[t]) {
      c[PiiTypeName(static_cast<PiiType>(t))] = counts[t];
      total += counts[t];
    }
  if (total == 0) return Status::Ok();
  const json row = {{"source", source}, {"counts", std::move(c)}};
  ++pii_count_;
  top_pii_.Add(total, row);
  return Write(&pii_, row);
}

Status ReportLists::AddCluster(const DupClusterReport& c) {
  const json row = {{"kept", c.kept}, {"removed", c.removed}, {"exact", c.exact}};
  const int64_t size = (int64_t)c.removed.size() + 1;
  ++cluster_count_;
  ++cluster_sizes_[size];
  if (top_clusters_.Takes(size - 1)) {
    // The report names a cluster's first removed documents and its size, not all of them.
    const size_t shown = std::min(c.removed.size(), kClusterMembersListed);
    const std::vector<std::string> first(c.removed.begin(), c.removed.begin() + (ptrdiff_t)shown);
    top_clusters_.Add(size - 1, {{"kept", c.kept}, {"size", size}, {"removed", first}, {"exact", c.exact}});
  }
  return Write(&clusters_, row);
}

Status ReportLists::Finish(json* clean) {
  ST_RETURN_IF_ERROR(pii_.Commit());
  ST_RETURN_IF_ERROR(clusters_.Commit());
  json& pii = (*clean)["pii"];
  pii["documents_file"] = kPiiDocumentsFile;
  pii["documents_listed"] = pii_count_;
  pii["top_documents"] = top_pii_.List();
  json by_size = json::object();
  for (const auto& [size, n] : cluster_sizes_) by_size[std::to_string(size)] = n;
  (*clean)["duplicate_clusters"] = {
      {"count", cluster_count_}, {"file", kDuplicateClustersFile}, {"by_size", by_size}, {"largest", top_clusters_.List()}};
  return Status::Ok();
}

}  // namespace st::data
