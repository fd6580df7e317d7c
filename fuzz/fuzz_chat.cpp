// Chat messages JSON and chat template sources (data/tokenize/chat_template.h):
// the first line is a template source, the rest a messages document.
#include <string>

#include "data/tokenize/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string source = in.substr(0, nl), messages = nl == std::string::npos ? "" : in.substr(nl + 1);
  auto msgs = st::data::ParseChatMessages(messages, "fuzz.json");
  auto t = st::data::ChatTemplate::Create(source, "auto", "<s>", "</s>");
  if (msgs.ok() && t.ok()) (void)t->Render(*msgs, true);
  return 0;
}
