// Chat templates: rendering a conversation exactly as a model's Jinja
// `chat_template` does, for the families we support, and knowing where each
// assistant turn lies so the data stage can train on responses only.
//
// We do not run Jinja. We recognise the family from the template string (the
// fixed fragments every template of that family writes) and render it in C++:
//   chatml   <|im_start|>role\ncontent<|im_end|>\n ... (Qwen2 / Qwen2.5, with the
//            default system prompt the template names, if any)
//   llama3   <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n content|trim <|eot_id|>
//            (3.1+: always opened by a system header with the knowledge cutoff and a date)
//   llama2   <s>[INST] <<SYS>>\n..\n<</SYS>>\n\n user [/INST] assistant </s>
//   mistral  [INST] user [/INST] assistant</s>, in the spellings Mistral's
//            templates use (v0.1, v1, v3, v3-tekken: spaces around [INST], the system
//            prompt on the first or the last user turn or refused, trimmed replies)
// A template we cannot recognise is an error that says so, unless the recipe
// names the family (then the family's plain form is used). The original template
// string is kept unchanged for GGUF's tokenizer.chat_template.
//
// Followed: the templates' own texts (tokenizer_config.json of Qwen2.5-Instruct,
// Meta-Llama-3-Instruct, Llama-2-chat, Mistral-7B-Instruct-v0.1 and Mistral's v3 /
// v3-tekken templates as listed in llama.cpp's tests/test-chat-template.cpp).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/utf8.h"  // PyStrip
#include "data/tokenize/tokenizer.h"

namespace st::data {

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct RenderedChat {
  std::string text;
  // Byte ranges of `text` the model must learn to produce: each assistant
  // reply and the end-of-turn token after it.
  std::vector<std::pair<size_t, size_t>> assistant_spans;
};

struct OllamaChat;
class ChatTemplate;
// The template as an Ollama (Go text/template) TEMPLATE: data/tokenize/ollama_template.h.
StatusOr<OllamaChat> OllamaChatFor(const ChatTemplate& t);

class ChatTemplate {
 public:
  // `source` is the template string (may be empty when `format` is given);
  // `format` is "" or "auto" (detect) or a family name above. `bos` / `eos` are
  // the tokenizer's special-token strings ("" when it has none).
  static StatusOr<ChatTemplate> Create(const std::string& source, const std::string& format, const std::string& bos,
                                       const std::string& eos);

  StatusOr<RenderedChat> Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  const std::string& source() const { return source_; }
  // Dated Llama 3.x templates write today's date; fix it for reproducible shards.
  void set_date(const std::string& d) { fixed_date_ = d; }
  bool dated() const { return dated_; }
  const std::string& family() const { return family_; }

 private:
  enum class SystemAt { kRefused, kFirstUser, kLastUser };
  std::string source_, family_, bos_, eos_;
  std::string default_system_;                 // chatml
  std::string inst_open_ = "[INST] ", inst_close_ = " [/INST]";  // mistral
  std::string reply_prefix_;                   // mistral: " " before a reply
  bool trim_reply_ = false;                    // mistral v3
  bool add_bos_ = false;                       // whether the template writes bos_token
  bool dated_ = false, date_from_clock_ = false;  // llama3.1+: the dated system header
  std::string knowledge_line_ = "Cutting Knowledge Date: December 2023", date_string_ = "26 Jul 2024", fixed_date_;
  std::string date() const;
  SystemAt system_at_ = SystemAt::kRefused;    // mistral
  friend StatusOr<OllamaChat> OllamaChatFor(const ChatTemplate& t);
};

// The model directory's template: chat_template.jinja, else tokenizer_config.json's
// "chat_template" (a string, or a list of {name, template}: the one named "default").
// nullopt when the model has none.
StatusOr<std::optional<std::string>> ReadChatTemplate(const std::string& model_dir);

// The model's template (or the named family), with its tokenizer's BOS / EOS
// strings. Errors name the model directory.
StatusOr<ChatTemplate> LoadChatTemplate(const std::string& model_dir, const Tokenizer& tok, const std::string& format);

// Messages from JSON: a list of {role, content}, or {"messages": [...]}, or
// sharegpt's {"conversations": [{from: human|gpt|system, value}]}.
StatusOr<std::vector<ChatMessage>> ParseChatMessages(const std::string& json_text, const std::string& where);

// Tokenizes a rendered conversation as the model's tokenizer does (special-token
// strings become their ids; no BOS added: the template writes it) and marks the
// tokens that start inside an assistant span.
struct ChatTokens {
  std::vector<int> ids;
  std::vector<uint8_t> mask;
};
ChatTokens TokenizeChat(const Tokenizer& tok, const RenderedChat& chat);


}  // namespace st::data
