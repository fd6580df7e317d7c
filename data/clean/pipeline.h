// The cleaning stages, in order: normalize -> quality filters -> de-identify (per
// document, on `threads` workers; CleanDocuments) -> deduplicate (over the whole
// corpus, after de-identification so that texts differing only in a phone number
// are one text; RemoveDuplicates). Every removal is counted by reason.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "data/clean/dedup.h"
#include "data/clean/deid.h"
#include "data/clean/normalize.h"
#include "data/clean/readers.h"

namespace st::data {

// What de-identification found in one document of a batch (CleanDocuments); a data
// task stores the counts with the document's record, and the merge streams them to
// pii_documents.jsonl beside the data report.
struct PiiDocument {
  int64_t order = 0;  // the Document's order
  std::array<int64_t, kNumPiiTypes> counts{};
};

struct DupClusterReport {
  std::string kept;                  // source of the document kept
  std::vector<std::string> removed;  // sources of the removed ones
  bool exact = false;
};

struct CleanReport {
  int64_t documents_in = 0, documents_out = 0;
  std::map<std::string, int64_t> removed;  // reason -> documents
  NormalizeStats normalize;
  DeidStats deid;
  std::vector<PiiDocument> pii_documents;  // this batch's documents with PII (not merged, not in the JSON)
  std::map<std::string, int64_t> augmented;  // augmentation pairs made, by kind
};

// The per-document stages; removed documents are erased, order kept.
Status CleanDocuments(std::vector<Document>* docs, const CleanSpec& spec, int threads, CleanReport* report);

// The text duplicate detection and the content hash look at.
std::string DocumentText(const Document& d);

// Duplicate removal over signatures in corpus order: counts report->removed, hands
// each cluster to `sink` in order of its kept document (not held: a corpus may have
// millions), returns which to keep. The clusters' documents are named by one call of
// `names` with their indices, ascending (a corpus's names are not all held).
using NameDocuments = std::function<StatusOr<std::vector<std::string>>(const std::vector<int64_t>& indices)>;
using ClusterSink = std::function<Status(const DupClusterReport&)>;
StatusOr<std::vector<uint8_t>> RemoveDuplicates(const SignatureStore& sigs, const DedupOptions& o, const NameDocuments& names,
                                                const ClusterSink& sink, CleanReport* report);

// Adds b's counts into a (the tasks of a multi-task build, merged).
void MergeCleanReport(CleanReport* a, const CleanReport& b);

// The options the recipe's clean section names, for the stages' own types.
NormalizeOptions ToNormalizeOptions(const CleanSpec& s);
DedupOptions ToDedupOptions(const CleanSpec& s, uint64_t seed);
StatusOr<DeidOptions> ToDeidOptions(const CleanSpec& s);

}  // namespace st::data
