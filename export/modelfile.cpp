#include "export/modelfile.h"

#include <cstdio>
#include <filesystem>

#include "core/file_io.h"
#include "core/json_io.h"
#include "data/tokenize/chat_template.h"
#include "data/tokenize/ollama_template.h"
#include "data/tokenize/tokenizer.h"

namespace st::exporter {
namespace fs = std::filesystem;

namespace {

std::string Quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

StatusOr<std::string> BuildModelfile(const ModelfileSpec& spec) {
  std::string m;
  if (!spec.comment.empty()) m += "# " + spec.comment + "\n";
  m += "FROM " + spec.from + "\n";
  for (const auto& a : spec.adapters) m += "ADAPTER " + a + "\n";
  ST_ASSIGN_OR_RETURN(auto tok, data::LoadTokenizer(spec.model_dir));
  ST_ASSIGN_OR_RETURN(auto source, data::ReadChatTemplate(spec.model_dir));
  if (source) {
    ST_ASSIGN_OR_RETURN(data::ChatTemplate chat, data::LoadChatTemplate(spec.model_dir, *tok, "auto"));
    ST_ASSIGN_OR_RETURN(data::OllamaChat oc, data::OllamaChatFor(chat));
    if (oc.template_text.find("\"\"\"") != std::string::npos)
      return InvalidInput(spec.model_dir + ": the chat template contains \"\"\", which a Modelfile TEMPLATE cannot hold");
    m += "TEMPLATE \"\"\"" + oc.template_text + "\"\"\"\n";
    for (const auto& s : oc.stops) m += "PARAMETER stop " + Quote(s) + "\n";
  } else {
    m += "# no chat template in " + spec.model_dir + ": Ollama sends prompts as they are\n";
  }
  // The model's recommended sampling, under Ollama's names.
  const std::string gen = (fs::path(spec.model_dir) / "generation_config.json").string();
  if (PathExists(gen)) {
    ST_ASSIGN_OR_RETURN(auto g, ReadJsonFile(gen));
    const std::pair<const char*, const char*> kMap[] = {
        {"temperature", "temperature"}, {"top_p", "top_p"}, {"top_k", "top_k"}, {"repetition_penalty", "repeat_penalty"}};
    const bool sampling = !g.contains("do_sample") || g["do_sample"] == true;
    for (const auto& [hf, ol] : kMap)
      if (sampling && g.contains(hf) && g[hf].is_number()) m += std::string("PARAMETER ") + ol + " " + Number(g[hf].get<double>()) + "\n";
  }
  return m;
}

Status WriteModelfile(const ModelfileSpec& spec, const std::string& path) {
  ST_ASSIGN_OR_RETURN(std::string text, BuildModelfile(spec));
  return WriteFileAtomic(path, text);
}

}  // namespace st::exporter
