#include "data/tokenize/ollama_template.h"

namespace st::data {
namespace {

// Go template snippets. Literal text next to a "{{-" or "-}}" loses its
// whitespace, so markers that end in spaces are printed as string constants.
// `$last` is true for the final message: a reply there stays open.
const char kLast[] = "{{- $last := eq (len (slice $.Messages $i)) 1 }}";

// Quotes a literal for a Go template string constant.
std::string GoString(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}

}  // namespace

StatusOr<OllamaChat> OllamaChatFor(const ChatTemplate& t) {
  OllamaChat o;
  std::string& g = o.template_text;
  const std::string& fam = t.family_;
  if (fam == "chatml") {
    // The first message, when it is a system message, opens the chat; otherwise
    // the template's default system prompt does (Qwen2.5), if it has one.
    g += "{{- $first := \"\" }}{{ if .Messages }}{{ $first = (index .Messages 0).Role }}{{ end }}";
    g += "{{- if eq $first \"system\" }}<|im_start|>system\n{{ (index .Messages 0).Content }}<|im_end|>\n";
    if (!t.default_system_.empty()) g += "{{ else }}<|im_start|>system\n" + t.default_system_ + "<|im_end|>\n";
    g += "{{ end }}";
    g += "{{- $open := true }}{{- range $i, $m := .Messages }}";
    g += kLast;
    g += "{{- if or $i (ne $m.Role \"system\") }}<|im_start|>{{ $m.Role }}\n{{ $m.Content }}";
    g += "{{ if or (not $last) (ne $m.Role \"assistant\") }}<|im_end|>\n{{ end }}{{ end }}";
    g += "{{- $open = ne $m.Role \"assistant\" }}{{ end }}";
    g += "{{- if $open }}<|im_start|>assistant\n{{ end }}";
    o.stops = {"<|im_start|>", "<|im_end|>"};
    return o;
  }
  if (fam == "llama3") {
    g += "{{- $open := true }}";
    size_t skip = 0;
    if (t.dated_) {
      // Always a system header with the cutoff and the date; a leading system
      // message joins it and is not repeated below.
      g += "<|start_header_id|>system<|end_header_id|>\n\n" + t.knowledge_line_ + "\nToday Date: " + t.date() + "\n\n";
      g += "{{ if and .Messages (eq (index .Messages 0).Role \"system\") }}{{ (index .Messages 0).Content }}{{ end }}<|eot_id|>";
      skip = 1;
    }
    g += "{{- range $i, $m := .Messages }}";
    g += kLast;
    g += skip ? "{{- if or $i (ne $m.Role \"system\") }}" : "{{- if true }}";
    g += "<|start_header_id|>{{ $m.Role }}<|end_header_id|>\n\n{{ $m.Content }}";
    g += "{{ if or (not $last) (ne $m.Role \"assistant\") }}<|eot_id|>{{ end }}{{ end }}";
    g += "{{- $open = ne $m.Role \"assistant\" }}{{ end }}";
    g += "{{- if $open }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ end }}";
    o.stops = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    return o;
  }
  if (fam == "llama2") {
    // Every user turn opens with BOS (the tokenizer adds the first); the system
    // prompt goes into the first user turn inside <<SYS>>.
    g += "{{- $sys := \"\" }}{{ $seen := false }}{{- range $i, $m := .Messages }}";
    g += kLast;
    g += "{{- if eq $m.Role \"system\" }}{{ $sys = $m.Content }}";
    g += "{{- else if eq $m.Role \"user\" }}{{ if $seen }}" + t.bos_ + "{{ end }}[INST] ";
    g += "{{ if $sys }}<<SYS>>\n{{ $sys }}\n<</SYS>>\n\n{{ $sys = \"\" }}{{ end }}{{ $m.Content }} [/INST]{{ $seen = true }}";
    g += "{{- else }} {{ $m.Content }}{{ if not $last }} " + t.eos_ + "{{ end }}{{ end }}{{ end }}";
    o.stops = {"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"};
    return o;
  }
  if (fam == "mistral") {
    // The system prompt joins the first or the last user turn, as the model's
    // template places it (templates that refuse one: the last, as Ollama's own do).
    const bool at_first = t.system_at_ == ChatTemplate::SystemAt::kFirstUser;
    g += "{{- $sys := \"\" }}{{ $seen := false }}{{- range $i, $m := .Messages }}";
    g += kLast;
    g += "{{- if eq $m.Role \"system\" }}{{ $sys = $m.Content }}";
    // print keeps the markers' spaces away from the {{- trims around them.
    g += "{{- else if eq $m.Role \"user\" }}{{ print " + GoString(t.inst_open_) + " }}";
    if (at_first)
      g += "{{- if and $sys (not $seen) }}{{ $sys }}\n\n{{ end }}";
    else
      g += "{{- if and $sys $last }}{{ $sys }}\n\n{{ end }}";
    g += "{{ $m.Content }}{{ print " + GoString(t.inst_close_) + " }}{{ $seen = true }}";
    g += "{{- else }}" + t.reply_prefix_ + "{{ $m.Content }}{{ if not $last }}" + t.eos_ + "{{ end }}{{ end }}{{ end }}";
    o.stops = {"[INST]", "[/INST]"};
    return o;
  }
  return InvalidInput("no Ollama template for chat format '" + fam + "'");
}

}  // namespace st::data
