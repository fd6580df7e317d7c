#include "data/eval/task_set.h"

#include "core/file_io.h"
#include "core/json_io.h"
#include "core/utf8.h"

namespace st::data {
namespace {

std::string ToHex(const std::string& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

bool FromHex(const std::string& s, std::string* out) {
  auto v = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  if (s.size() % 2) return false;
  out->clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = v(s[i]), lo = v(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back((char)(hi * 16 + lo));
  }
  return true;
}

}  // namespace

std::string TaskSet::Decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids)
    if (id >= 0 && id < (int)token_bytes.size()) out += token_bytes[id];
  if (strip_leading_space && !out.empty() && out[0] == ' ') out.erase(0, 1);
  // Bytes that form no UTF-8 character (a reply cut inside one, a model that
  // emits stray byte tokens) become U+FFFD, as sentencepiece's decoder does.
  return EncodeUtf8(DecodeUtf8(out));
}

Status WriteTaskSet(const TaskSet& t, const std::string& path) {
  nlohmann::json hex = nlohmann::json::array();
  for (const auto& b : t.token_bytes) hex.push_back(ToHex(b));
  nlohmann::json j = {{"format", "slicetune-task-eval"}, {"prompts", t.prompts}, {"stop", t.stop},
                      {"inputs", t.inputs}, {"references", t.references}, {"sources", t.sources},
                      {"token_bytes", hex}, {"strip_leading_space", t.strip_leading_space},
                      {"max_new_tokens", t.max_new_tokens}, {"sql_scripts", t.sql_scripts}};
  return WriteFileAtomic(path, j.dump() + "\n");
}

StatusOr<TaskSet> ReadTaskSet(const std::string& path) {
  ST_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(path));
  if (!j.is_object() || j.value("format", "") != "slicetune-task-eval")
    return InvalidInput(path + ": not a slicetune task evaluation file (format field)");
  TaskSet t;
  try {
    t.prompts = j.at("prompts").get<std::vector<std::vector<int>>>();
    t.stop = j.at("stop").get<std::vector<int>>();
    t.inputs = j.at("inputs").get<std::vector<std::string>>();
    t.references = j.at("references").get<std::vector<std::string>>();
    t.sources = j.at("sources").get<std::vector<std::string>>();
    t.strip_leading_space = j.at("strip_leading_space").get<bool>();
    t.max_new_tokens = j.at("max_new_tokens").get<int64_t>();
    if (j.contains("sql_scripts")) t.sql_scripts = j.at("sql_scripts").get<std::vector<std::string>>();
    for (const auto& h : j.at("token_bytes")) {
      std::string b;
      if (!FromHex(h.get<std::string>(), &b)) return InvalidInput(path + ": token_bytes: not hexadecimal");
      t.token_bytes.push_back(std::move(b));
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidInput(path + ": " + e.what() + "; rebuild it with `slicetune train`");
  }
  const size_t n = t.prompts.size();
  if (t.inputs.size() != n || t.references.size() != n || t.sources.size() != n)
    return InvalidInput(path + ": prompts, inputs, references and sources differ in length");
  return t;
}

nlohmann::json TaskScores::Summary() const {
  auto prf = [](const CharCounts& c) {
    return nlohmann::json{{"precision", c.precision()}, {"recall", c.recall()}, {"f1", c.f1()},
                          {"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}};
  };
  nlohmann::json j = {{"examples", examples}, {"exact_match", exact_match()}, {"correction", prf(correction)},
                      {"char_overlap", prf(overlap)}};
  if (executed) j["execution_accuracy"] = execution_accuracy();
  return j;
}

StatusOr<TaskScores> ScoreTask(const std::vector<std::string>& inputs, const std::vector<std::string>& references,
                               const std::vector<std::string>& sources, const std::vector<std::string>& predictions,
                               const SqlDatabase* db) {
  TaskScores s;
  s.executed = db != nullptr;
  for (size_t i = 0; i < predictions.size(); ++i) {
    const bool em = ExactMatch(predictions[i], references[i]);
    s.exact += em;
    const CharCounts c = CorrectionCounts(sources[i], references[i], predictions[i]);
    const CharCounts o = OverlapCounts(references[i], predictions[i]);
    s.correction.Add(c);
    s.overlap.Add(o);
    s.predictions.push_back({{"input", inputs[i]}, {"reference", references[i]}, {"prediction", predictions[i]},
                             {"exact", em}, {"edits", {{"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}}},
                             {"chars", {{"tp", o.tp}, {"fp", o.fp}, {"fn", o.fn}}}});
    if (db) {
      ST_ASSIGN_OR_RETURN(bool same, db->SameResult(references[i], predictions[i]));
      s.same_result += same;
      s.predictions.back()["same_result"] = same;
    }
  }
  s.examples = (int64_t)predictions.size();
  return s;
}

}  // namespace st::data
