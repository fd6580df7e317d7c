#include "data/clean/pipeline.h"

#include "data/clean/signature_store.h"

#include <algorithm>
#include <cstdlib>
#include <functional>

#include "core/file_io.h"
#include "core/parallel.h"
#include "data/clean/quality.h"

namespace st::data {
namespace {

// Every text a document carries, for a stage to rewrite.
void ForEachText(Document* d, const std::function<void(std::string*)>& f) {
  if (!d->messages.empty()) {
    for (auto& m : d->messages) f(&m.content);
    return;
  }
  if (!d->system.empty()) f(&d->system);
  if (!d->prompt.empty()) f(&d->prompt);
  f(&d->response);
}

}  // namespace

std::string DocumentText(const Document& d) {
  std::string s;
  if (!d.messages.empty()) {
    for (const auto& m : d.messages) s += m.role + "\x1f" + m.content + "\x1e";
    return s;
  }
  if (!d.system.empty()) s += d.system + "\x1e";
  if (!d.prompt.empty()) s += d.prompt + "\x1e";
  return s + d.response;
}

namespace {


void Add(NormalizeStats* a, const NormalizeStats& b) {
  a->documents += b.documents;
  a->documents_changed += b.documents_changed;
  a->nfc += b.nfc;
  a->fullwidth += b.fullwidth;
  a->controls += b.controls;
  a->whitespace += b.whitespace;
  a->t2s += b.t2s;
}

void Add(DeidStats* a, const DeidStats& b) {
  for (int i = 0; i < kNumPiiTypes; ++i) {
    a->found[i] += b.found[i];
    a->replaced[i] += b.replaced[i];
  }
  a->allowed += b.allowed;
  a->rejected += b.rejected;
  a->documents_with_pii += b.documents_with_pii;
}

}  // namespace

StatusOr<std::vector<uint8_t>> RemoveDuplicates(const SignatureStore& sigs, const DedupOptions& o, const NameDocuments& names,
                                                const ClusterSink& sink, CleanReport* rep) {
  ST_ASSIGN_OR_RETURN(DedupResult r, ResolveDuplicates(sigs, o));
  std::vector<int64_t> members;
  for (const auto& c : r.clusters) {
    members.push_back(c.kept);
    members.insert(members.end(), c.removed.begin(), c.removed.end());
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  std::vector<std::string> named;
  if (!members.empty()) {
    ST_ASSIGN_OR_RETURN(named, names(members));
    if (named.size() != members.size()) return RuntimeError("dedup: the documents to name were not all found");
  }
  auto name = [&](int64_t i) { return named[std::lower_bound(members.begin(), members.end(), i) - members.begin()]; };
  for (const auto& c : r.clusters) {
    DupClusterReport cr;
    cr.kept = name(c.kept);
    cr.exact = c.exact;
    for (int64_t k : c.removed) cr.removed.push_back(name(k));
    ST_RETURN_IF_ERROR(sink(cr));
    // Exact or near: whether the removed text equals the kept one.
    for (int64_t k : c.removed) {
      const bool exact = sigs.exact_hi(k) == sigs.exact_hi(c.kept) && sigs.exact_lo(k) == sigs.exact_lo(c.kept);
      ++rep->removed[exact ? "exact_duplicate" : "near_duplicate"];
    }
  }
  rep->documents_out -= (int64_t)(r.exact_removed + r.near_removed);
  return r.keep;
}

void MergeCleanReport(CleanReport* a, const CleanReport& b) {
  a->documents_in += b.documents_in;
  a->documents_out += b.documents_out;
  for (const auto& [k, v] : b.removed) a->removed[k] += v;
  for (const auto& [k, v] : b.augmented) a->augmented[k] += v;
  Add(&a->normalize, b.normalize);
  Add(&a->deid, b.deid);
}

NormalizeOptions ToNormalizeOptions(const CleanSpec& s) {
  NormalizeOptions o;
  o.nfc = s.nfc;
  o.fullwidth_ascii = s.fullwidth_ascii;
  o.fullwidth_punct = s.fullwidth_punct;
  o.ideographic_space = s.ideographic_space;
  o.controls = s.controls;
  o.whitespace = s.whitespace;
  o.t2s = s.t2s;
  return o;
}

DedupOptions ToDedupOptions(const CleanSpec& s, uint64_t seed) {
  DedupOptions o;
  o.exact = s.dedup_exact;
  o.near = s.dedup_near;
  o.threshold = s.near_threshold;
  o.ngram = (int)s.ngram;
  o.num_perm = (int)s.num_perm;
  o.bands = (int)s.bands;
  o.seed = seed;
  return o;
}

StatusOr<DeidOptions> ToDeidOptions(const CleanSpec& s) {
  DeidOptions o;
  ST_ASSIGN_OR_RETURN(PiiPolicy p, ParsePiiPolicy(s.deid_policy));
  o.policy.fill(p);
  for (const auto& [type, pol] : s.deid_types) {
    auto t = ParsePiiType(type);
    if (!t.ok()) return InvalidInput("data.clean.deid.types: " + t.status().message());
    ST_ASSIGN_OR_RETURN(o.policy[static_cast<int>(*t)], ParsePiiPolicy(pol));
  }
  if (!s.deid_allow.empty()) {
    ST_ASSIGN_OR_RETURN(o.allow, ReadAllowList(s.deid_allow));
  }
  if (!s.deid_key_file.empty()) {
    ST_ASSIGN_OR_RETURN(o.key, ReadFile(s.deid_key_file));
  } else if (const char* k = std::getenv("SLICETUNE_DEID_KEY")) {
    o.key = k;
  }
  return o;
}

Status CleanDocuments(std::vector<Document>* docs, const CleanSpec& spec, int threads, CleanReport* rep) {
  const size_t n = docs->size();
  rep->documents_in += (int64_t)n;
  std::vector<std::string> reason(n);
  if (spec.normalize) {
    ST_ASSIGN_OR_RETURN(Normalizer norm, Normalizer::Create(ToNormalizeOptions(spec)));
    std::vector<NormalizeStats> st(std::max(1, threads));
    ParallelFor(n, threads, [&](int t, size_t i) {
      ForEachText(&(*docs)[i], [&](std::string* s) { *s = norm.Apply(*s, &st[t]); });
    });
    for (const auto& s : st) Add(&rep->normalize, s);
  }
  if (spec.filter) {
    QualityOptions q;
    q.min_chars = spec.min_chars;
    q.max_chars = spec.max_chars;
    q.max_dup_line_ratio = spec.max_dup_line_ratio;
    q.max_dup_ngram_ratio = spec.max_dup_ngram_ratio;
    q.min_text_ratio = spec.min_text_ratio;
    ParallelFor(n, threads, [&](int, size_t i) { reason[i] = QualityReject(DocumentText((*docs)[i]), q); });
  }
  if (spec.deid) {
    ST_ASSIGN_OR_RETURN(DeidOptions opts, ToDeidOptions(spec));
    std::vector<Deidentifier> workers;  // one per thread: PCRE2 match data is per thread
    for (int t = 0; t < std::max(1, threads); ++t) {
      ST_ASSIGN_OR_RETURN(Deidentifier d, Deidentifier::Create(opts));
      workers.push_back(std::move(d));
    }
    std::vector<DeidStats> st(workers.size());
    std::vector<PiiDocument> per_doc(n);
    ParallelFor(n, threads, [&](int t, size_t i) {
      if (!reason[i].empty()) return;
      DeidStats doc_st;
      ForEachText(&(*docs)[i], [&](std::string* s) { *s = workers[t].Apply(*s, &doc_st); });
      for (int k = 0; k < kNumPiiTypes; ++k) per_doc[i].counts[k] = doc_st.found[k];
      doc_st.documents_with_pii = std::any_of(doc_st.found.begin(), doc_st.found.end(), [](int64_t c) { return c > 0; });
      Add(&st[t], doc_st);
    });
    for (const auto& s : st) Add(&rep->deid, s);
    for (size_t i = 0; i < n; ++i)
      if (std::any_of(per_doc[i].counts.begin(), per_doc[i].counts.end(), [](int64_t c) { return c > 0; })) {
        per_doc[i].order = (*docs)[i].order;
        rep->pii_documents.push_back(per_doc[i]);
      }
  }
  std::vector<Document> kept;
  kept.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (reason[i].empty()) kept.push_back(std::move((*docs)[i]));
    else ++rep->removed[reason[i]];
  }
  rep->documents_out += (int64_t)kept.size();
  docs->swap(kept);
  return Status::Ok();
}

}  // namespace st::data
