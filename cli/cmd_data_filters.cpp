// `slicetune data decode | normalize | deid | dedup | augment`: one corpus stage as a
// standard-input to standard-output filter, so a person can see what a stage does
// to their own text and scripts can chain stages. A summary goes to stderr.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/file_io.h"
#include <map>

#include "data/clean/augment.h"
#include "data/clean/decode.h"
#include "data/clean/dedup.h"
#include "data/clean/deid.h"
#include "data/clean/normalize.h"
#include "data/clean/readers.h"

namespace st::cli {
namespace {

using json = nlohmann::json;

// Lines from stdin: plain (one document per line) or --jsonl (a JSON string per line).
struct LineReader {
  bool jsonl = false;
  int64_t lineno = 0;
  StatusOr<bool> Next(std::string* doc) {
    std::string line;
    if (!std::getline(std::cin, line)) return false;
    ++lineno;
    const std::string where = "stdin:" + std::to_string(lineno);
    if (jsonl) {
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_string()) return InvalidInput(where + ": expected a JSON string per line (--jsonl)");
      *doc = j.get<std::string>();
    } else {
      if (!line.empty() && line.back() == '\r') line.pop_back();  // CR LF line ends
      *doc = std::move(line);
    }
    if (size_t bad = data::FindInvalidUtf8(*doc); bad != std::string::npos)
      return InvalidInput(where + ": not valid UTF-8 at byte " + std::to_string(bad) +
                          "; convert first: slicetune data decode --encoding auto < FILE");
    return true;
  }
};

void Emit(const std::string& doc, bool jsonl) {
  if (jsonl) std::cout << json(doc).dump() << "\n";
  else std::cout << doc << "\n";
}

void AddDecode(CLI::App* data, Status* result) {
  auto* cmd = data->add_subcommand("decode", "Bytes on stdin in any supported encoding -> UTF-8 on stdout");
  auto enc = std::make_shared<std::string>("auto");
  auto strict = std::make_shared<bool>(false);
  cmd->add_option("--encoding", *enc, "auto, utf-8, gb18030 (gbk, gb2312), utf-16, utf-16le, utf-16be")->capture_default_str();
  cmd->add_flag("--strict", *strict, "Exit 2 when any byte is not valid in the encoding (default: U+FFFD, counted)");
  cmd->callback([enc, strict, result] {
    auto d = data::Decoder::Create(*enc);
    if (!d.ok()) {
      *result = d.status();
      return;
    }
    std::string buf(1 << 20, '\0'), out;
    while (true) {
      const size_t n = std::fread(buf.data(), 1, buf.size(), stdin);
      const bool last = n < buf.size();
      out.clear();
      if (Status s = d->Feed(std::string_view(buf.data(), n), last, &out); !s.ok()) {
        *result = s;
        return;
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
      if (last) break;
    }
    std::fflush(stdout);
    const auto& st = d->stats();
    std::fprintf(stderr, "decode: %s, %lld bytes, %lld invalid bytes replaced with U+FFFD%s\n", st.encoding.c_str(),
                 (long long)st.bytes_in, (long long)st.invalid_bytes,
                 st.first_invalid >= 0 ? (" (first at byte " + std::to_string(st.first_invalid) + ")").c_str() : "");
    if (*strict && st.invalid_bytes > 0)
      *result = InvalidInput("stdin: " + std::to_string(st.invalid_bytes) + " bytes are not valid " + st.encoding +
                             " (first at byte " + std::to_string(st.first_invalid) + ")");
  });
}

void AddNormalize(CLI::App* data, Status* result) {
  auto* cmd = data->add_subcommand("normalize", "Normalize each stdin line (NFC, full-width, controls, whitespace, t2s)");
  struct Opts {
    data::NormalizeOptions n;
    bool no_nfc = false, no_fullwidth = false, no_controls = false, no_whitespace = false, jsonl = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_flag("--no-nfc", o->no_nfc, "Skip Unicode NFC");
  cmd->add_flag("--no-fullwidth", o->no_fullwidth, "Keep full-width letters and digits");
  cmd->add_flag("--fullwidth-punct", o->n.fullwidth_punct, "Also turn full-width ASCII punctuation (，！？) to ASCII");
  cmd->add_flag("--ideographic-space", o->n.ideographic_space, "Turn U+3000 into an ASCII space");
  cmd->add_flag("--no-controls", o->no_controls, "Keep control and zero-width characters");
  cmd->add_flag("--no-whitespace", o->no_whitespace, "Keep runs of spaces and tabs");
  cmd->add_flag("--t2s", o->n.t2s, "Traditional to simplified Chinese (OpenCC t2s)");
  cmd->add_flag("--jsonl", o->jsonl, "Each line is a JSON string (so a document may hold newlines)");
  cmd->callback([o, result] {
    o->n.nfc = !o->no_nfc;
    o->n.fullwidth_ascii = !o->no_fullwidth;
    o->n.controls = !o->no_controls;
    o->n.whitespace = !o->no_whitespace;
    auto norm = data::Normalizer::Create(o->n);
    if (!norm.ok()) {
      *result = norm.status();
      return;
    }
    LineReader in{o->jsonl};
    data::NormalizeStats st;
    std::string doc;
    while (true) {
      auto more = in.Next(&doc);
      if (!more.ok()) {
        *result = more.status();
        return;
      }
      if (!*more) break;
      Emit(norm->Apply(doc, &st), o->jsonl);
    }
    std::fprintf(stderr,
                 "normalize: %lld lines, %lld changed; characters changed: nfc %lld, full-width %lld, controls %lld, "
                 "whitespace %lld, t2s %lld\n",
                 (long long)st.documents, (long long)st.documents_changed, (long long)st.nfc, (long long)st.fullwidth,
                 (long long)st.controls, (long long)st.whitespace, (long long)st.t2s);
  });
}

// Code-point offset of byte `b` in `s`.
size_t CharOffset(const std::string& s, size_t b) {
  size_t n = 0;
  for (size_t i = 0; i < b && i < s.size(); ++i) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

void AddDeid(CLI::App* data, Status* result) {
  auto* cmd = data->add_subcommand("deid", "De-identify each stdin line: phones, IDs, bank cards, e-mail, IPs, IMEI/ICCID/IMSI");
  struct Opts {
    std::string policy = "placeholder", allow_file, key_file;
    std::vector<std::string> type_policies;
    bool spans = false, jsonl = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--policy", o->policy, "keep | placeholder (<PHONE>) | pseudonym (consistent format-valid stand-in)")
      ->capture_default_str();
  cmd->add_option("--type-policy", o->type_policies, "Per type: TYPE=POLICY, e.g. EMAIL=keep (repeatable)");
  cmd->add_option("--allow", o->allow_file, "File of values never touched, one per line (service numbers, glossary terms)");
  cmd->add_option("--key-file", o->key_file, "Secret key for pseudonyms (or set SLICETUNE_DEID_KEY)");
  cmd->add_flag("--spans", o->spans, "Print what was found as JSON per line ({text, spans: [{start, end, type, value}]}, "
                                     "offsets in characters) instead of the rewritten text");
  cmd->add_flag("--jsonl", o->jsonl, "Each line is a JSON string");
  cmd->callback([o, result] {
    *result = [&]() -> Status {
      data::DeidOptions opts;
      ST_ASSIGN_OR_RETURN(data::PiiPolicy p, data::ParsePiiPolicy(o->policy));
      opts.policy.fill(p);
      for (const auto& tp : o->type_policies) {
        const size_t eq = tp.find('=');
        if (eq == std::string::npos) return InvalidInput("--type-policy '" + tp + "': expected TYPE=POLICY");
        ST_ASSIGN_OR_RETURN(data::PiiType t, data::ParsePiiType(tp.substr(0, eq)));
        ST_ASSIGN_OR_RETURN(data::PiiPolicy tpol, data::ParsePiiPolicy(tp.substr(eq + 1)));
        opts.policy[static_cast<int>(t)] = tpol;
      }
      if (!o->allow_file.empty()) {
        ST_ASSIGN_OR_RETURN(opts.allow, data::ReadAllowList(o->allow_file));
      }
      if (!o->key_file.empty()) {
        ST_ASSIGN_OR_RETURN(opts.key, ReadFile(o->key_file));
      } else if (const char* k = std::getenv("SLICETUNE_DEID_KEY")) {
        opts.key = k;
      }
      ST_ASSIGN_OR_RETURN(data::Deidentifier deid, data::Deidentifier::Create(opts));
      LineReader in{o->jsonl};
      data::DeidStats st;
      std::string doc;
      while (true) {
        ST_ASSIGN_OR_RETURN(bool more, in.Next(&doc));
        if (!more) break;
        if (o->spans) {
          json spans = json::array();
          for (const auto& s : deid.Find(doc, &st))
            spans.push_back({{"start", CharOffset(doc, s.begin)}, {"end", CharOffset(doc, s.end)},
                             {"type", data::PiiTypeName(s.type)}, {"value", doc.substr(s.begin, s.end - s.begin)}});
          std::cout << json({{"text", doc}, {"spans", spans}}).dump() << "\n";
        } else {
          Emit(deid.Apply(doc, &st), o->jsonl);
        }
      }
      std::string found;
      for (int t = 0; t < data::kNumPiiTypes; ++t)
        if (st.found[t]) found += std::string(found.empty() ? "" : ", ") + data::PiiTypeName(static_cast<data::PiiType>(t)) + " " + std::to_string(st.found[t]);
      std::fprintf(stderr, "deid: %lld lines, %lld with personal data; found: %s; candidates rejected by validators or "
                           "context: %lld, allowed: %lld\n",
                   (long long)in.lineno, (long long)st.documents_with_pii, found.empty() ? "none" : found.c_str(),
                   (long long)st.rejected, (long long)st.allowed);
      return Status::Ok();
    }();
  });
}

void AddDedup(CLI::App* data, Status* result) {
  auto* cmd = data->add_subcommand("dedup", "Drop exact and near-duplicate stdin lines (MinHash-LSH), keeping the first");
  struct Opts {
    data::DedupOptions d;
    bool no_exact = false, no_near = false, jsonl = false;
    std::string clusters;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--threshold", o->d.threshold, "Estimated Jaccard similarity that makes a near duplicate")->capture_default_str();
  cmd->add_option("--ngram", o->d.ngram, "Character n-gram shingle size")->capture_default_str();
  cmd->add_option("--num-perm", o->d.num_perm, "MinHash permutations")->capture_default_str();
  cmd->add_option("--bands", o->d.bands, "LSH bands (divides --num-perm)")->capture_default_str();
  cmd->add_option("--seed", o->d.seed, "Hash seed")->capture_default_str();
  cmd->add_flag("--no-exact", o->no_exact, "Skip exact duplicates");
  cmd->add_flag("--no-near", o->no_near, "Skip near duplicates");
  cmd->add_option("--clusters", o->clusters, "Write the duplicate clusters as JSON (line numbers, 1-based)");
  cmd->add_flag("--jsonl", o->jsonl, "Each line is a JSON string");
  cmd->callback([o, result] {
    *result = [&]() -> Status {
      o->d.exact = !o->no_exact;
      o->d.near = !o->no_near;
      ST_RETURN_IF_ERROR(data::ValidateDedupOptions(o->d));
      LineReader in{o->jsonl};
      std::vector<std::string> docs;
      std::string doc;
      while (true) {
        ST_ASSIGN_OR_RETURN(bool more, in.Next(&doc));
        if (!more) break;
        docs.push_back(doc);
      }
      ST_ASSIGN_OR_RETURN(data::DedupResult r, data::Deduplicate(docs, o->d, 2));
      for (size_t i = 0; i < docs.size(); ++i)
        if (r.keep[i]) Emit(docs[i], o->jsonl);
      std::cout.flush();
      if (!o->clusters.empty()) {
        json c = json::array();
        for (const auto& cl : r.clusters) {
          json removed = json::array();
          for (int64_t i : cl.removed) removed.push_back(i + 1);
          c.push_back({{"kept", cl.kept + 1}, {"removed", removed}, {"exact", cl.exact}});
        }
        ST_RETURN_IF_ERROR(WriteFileAtomic(o->clusters, c.dump(1) + "\n"));
      }
      std::fprintf(stderr, "dedup: %zu lines, %lld exact and %lld near duplicates removed in %zu clusters\n", docs.size(),
                   (long long)r.exact_removed, (long long)r.near_removed, r.clusters.size());
      return Status::Ok();
    }();
  });
}

void AddAugment(CLI::App* data, Status* result) {
  auto* cmd = data->add_subcommand(
      "augment", "Make (erroneous, correct) pairs from each stdin line's sentences: JSON lines {kind, input, output}"
                 " (--prompt adds the instruction + input that data build trains with: held-out pairs for eval)");
  struct Opts {
    data::AugmentOptions a;
    std::string kinds = "typo,term,duplicate,abbreviation", glossary;
    bool jsonl = false, prompt = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--kinds", o->kinds, "Comma-separated: typo, term, duplicate, abbreviation")->capture_default_str();
  cmd->add_option("--glossary", o->glossary, "TSV: term<TAB>abbreviation (terms for term errors and abbreviations)");
  cmd->add_option("--ratio", o->a.ratio, "Pairs per sentence per kind (average)")->capture_default_str();
  cmd->add_option("--clean-ratio", o->a.clean_ratio, "Unchanged pairs per sentence (average)")->capture_default_str();
  cmd->add_option("--seed", o->a.seed, "Seed: the same seed and text give the same pairs")->capture_default_str();
  cmd->add_flag("--jsonl", o->jsonl, "Each input line is a JSON string");
  cmd->add_flag("--prompt", o->prompt, "Add a \"prompt\" field: the kind's instruction followed by the input, as training sees it");
  cmd->callback([o, result] {
    *result = [&]() -> Status {
      o->a.kinds.clear();
      for (size_t a = 0; a <= o->kinds.size();) {
        size_t e = o->kinds.find(',', a);
        if (e == std::string::npos) e = o->kinds.size();
        if (e > a) o->a.kinds.push_back(o->kinds.substr(a, e - a));
        a = e + 1;
      }
      if (!o->glossary.empty()) {
        ST_ASSIGN_OR_RETURN(o->a.glossary, data::ReadGlossary(o->glossary));
      }
      ST_ASSIGN_OR_RETURN(data::Augmenter aug, data::Augmenter::Create(o->a));
      LineReader in{o->jsonl};
      std::string doc;
      std::map<std::string, int64_t> made;
      int64_t sentences = 0;
      while (true) {
        ST_ASSIGN_OR_RETURN(bool more, in.Next(&doc));
        if (!more) break;
        for (const auto& s : data::Augmenter::Sentences(doc)) {
          ++sentences;
          for (const auto& p : aug.Generate(s)) {
            ++made[p.kind];
            json j = {{"kind", p.kind}, {"input", p.erroneous}, {"output", p.correct}};
            if (o->prompt) j["prompt"] = data::AugmentInstruction(p.kind) + p.erroneous;
            std::cout << j.dump() << "\n";
          }
        }
      }
      std::string summary;
      for (const auto& [k, v] : made) summary += (summary.empty() ? "" : ", ") + k + " " + std::to_string(v);
      std::fprintf(stderr, "augment: %lld sentences, pairs: %s\n", (long long)sentences, summary.empty() ? "none" : summary.c_str());
      return Status::Ok();
    }();
  });
}

}  // namespace

void AddDataFilters(CLI::App* data, Status* result) {
  AddAugment(data, result);
  AddDecode(data, result);
  AddNormalize(data, result);
  AddDeid(data, result);
  AddDedup(data, result);
}

}  // namespace st::cli
