// The cleaning stages over a source's documents, in order: normalize -> quality
// filters -> de-identify -> deduplicate (after de-identification, so texts that
// differ only in a phone number are one text). Per-document stages run on
// `threads` workers; every removal is counted by reason.
#pragma once

#include <array>
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

struct PiiDocument {
  std::string source;
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
  std::vector<PiiDocument> pii_documents;
  std::vector<DupClusterReport> clusters;
};

// Cleans `docs` in place (removed documents are erased, order kept).
Status CleanDocuments(std::vector<Document>* docs, const CleanSpec& spec, int threads, CleanReport* report);

// The options the recipe's clean section names, for the stages' own types.
NormalizeOptions ToNormalizeOptions(const CleanSpec& s);
DedupOptions ToDedupOptions(const CleanSpec& s, uint64_t seed);
StatusOr<DeidOptions> ToDeidOptions(const CleanSpec& s);

}  // namespace st::data
