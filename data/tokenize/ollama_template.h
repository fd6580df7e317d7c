// A chat template as Ollama runs it: Go text/template over .System and .Messages
// (Ollama's template/template.go). Generated from the same parse of the model's
// Jinja template that our renderer uses, so that Ollama's prompt equals
// transformers' apply_chat_template(..., add_generation_prompt=True) for a chat
// that ends with a user turn, with two differences Go's template language
// forces and the note states:
//   - Go templates cannot strip whitespace from message text, so contents the
//     Jinja template trims (Llama 3, Llama 2, Mistral v3 replies) must arrive
//     trimmed (Ollama's own library templates do not trim either);
//   - the leading BOS token is left to the tokenizer (llama.cpp adds it, as
//     tokenizer.ggml.add_bos_token says); BOS and EOS inside the chat are written
//     as text, which llama.cpp parses as special tokens.
// A final assistant message stays open (no end-of-turn) so Ollama continues it.
// Llama 3.1+ dates its system header: the date is fixed when the template is made.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "data/tokenize/chat_template.h"

namespace st::data {

struct OllamaChat {
  std::string template_text;       // the TEMPLATE body
  std::vector<std::string> stops;  // PARAMETER stop values: the family's turn markers
};

}  // namespace st::data
