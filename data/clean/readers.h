// Source readers: turn the files a recipe names into documents.
//   text + .txt    documents separated by blank lines
//   text + .jsonl  one JSON object per line, the document in `fields.text`
//   instruction    .jsonl, one object per line with `fields.prompt` and `fields.response`
//                  (and `fields.system` when present)
//   chat           .jsonl, one conversation per line: `fields.messages` ([{role, content}])
//                  or sharegpt's `conversations` ([{from, value}])
// Input must be UTF-8 (other encodings: see `slicetune data decode`, a later stage);
// errors name the file, the line and the field.
#pragma once

#include <string>
#include <vector>

#include "core/recipe.h"
#include "core/status.h"
#include "data/tokenize/chat_template.h"

namespace st::data {

struct Document {
  std::string prompt;    // empty for plain text: the whole text is trained on
  std::string response;  // the text itself for format text
  std::string system;    // instruction: an optional system message
  std::vector<ChatMessage> messages;  // chat: the conversation
  std::string source;    // "file:line" for reports and errors
};

StatusOr<std::vector<Document>> ReadSource(const SourceSpec& src);

// Returns the byte offset of the first invalid UTF-8 sequence, or npos if valid.
size_t FindInvalidUtf8(const std::string& s);

}  // namespace st::data
