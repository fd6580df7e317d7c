#include "data/tokenize/chat_template.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <ctime>
#include <regex>

#include "core/file_io.h"
#include "core/json_io.h"
#include "core/utf8.h"

namespace st::data {
namespace {

using json = nlohmann::json;

// "\\n" written inside Jinja literals as a real newline: templates spell it both
// ways (tokenizer_config.json stores either).
std::string UnescapeNewlines(const std::string& t) {
  std::string s;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\\' && i + 1 < t.size() && t[i + 1] == 'n') {
      s += '\n';
      ++i;
    } else {
      s += t[i];
    }
  }
  return s;
}

// The template with quotes unified and the spaces around `+` and `|` dropped,
// and message['x'] spelled message.x, so one fragment matches every spelling.
std::string Normalize(const std::string& t) {
  std::string s = UnescapeNewlines(t);
  for (char& c : s)
    if (c == '"') c = '\'';
  s = std::regex_replace(s, std::regex(R"([ \t\n]*([+|])[ \t\n]*)"), "$1");
  s = std::regex_replace(s, std::regex(R"(message\['(role|content)'\])"), "message.$1");
  return s;
}

bool Has(const std::string& s, const std::string& frag) { return s.find(frag) != std::string::npos; }

// Jinja string-literal escapes (\n, \t, \', \", \\) to their characters.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
  }
  return out;
}

Status Unsupported(const std::string& why) {
  return InvalidInput("chat template not recognised: " + why +
                      ". Supported: chatml (Qwen2/2.5), llama3 (Llama 3), llama2 (Llama 2 chat), mistral "
                      "([INST] templates); set data.template to one of them to render that family's plain form");
}

}  // namespace

StatusOr<ChatTemplate> ChatTemplate::Create(const std::string& source, const std::string& format,
                                            const std::string& bos, const std::string& eos) {
  ChatTemplate t;
  t.source_ = source;
  t.bos_ = bos;
  t.eos_ = eos;
  std::string n = Normalize(source);
  std::string fam = format;
  if (fam.empty() || fam == "auto") {
    if (source.empty()) return InvalidInput("the model has no chat_template; set data.template to chatml, llama3, llama2 or mistral");
    if (Has(n, "<|im_start|>")) fam = "chatml";
    else if (Has(n, "<|start_header_id|>")) fam = "llama3";
    else if (Has(n, "<<SYS>>")) fam = "llama2";
    else if (Has(n, "[INST]")) fam = "mistral";
    else return Unsupported("no ChatML, Llama 3 or [INST] markers in it");
    // The family's fixed fragments must be there as we render them.
    if (fam == "chatml") {
      if (!Has(n, "'<|im_start|>'+message.role+'\n'+message.content+'<|im_end|>"))
        return Unsupported("a ChatML template that does not write <|im_start|>role\\ncontent<|im_end|> per message");
      if (Has(n, "<think>")) return Unsupported("a ChatML template with reasoning blocks (<think>, Qwen3)");
      if (Has(n, "loop.last and add_generation_prompt"))
        return Unsupported("a ChatML template that drops <|im_end|> after the last turn (Qwen1.5)");
    } else if (fam == "llama3") {
      if (!Has(n, "'<|start_header_id|>'+message.role+'<|end_header_id|>\n\n'+message.content|trim+'<|eot_id|>'"))
        return Unsupported("a Llama 3 template that does not write header, trimmed content and <|eot_id|> per message");
      if (Has(n, "Cutting Knowledge Date") && !Has(n, "set system_message = messages[0]['content']|trim"))
        return Unsupported("a dated Llama 3.x template that does not trim and lift the system message");
    } else if (fam == "llama2") {
      if (!Has(n, "bos_token+'[INST] '+content.strip()+' [/INST]'") || !Has(n, "' '+content.strip()+' '+eos_token"))
        return Unsupported("a <<SYS>> template that is not Llama 2 chat's");
    }
  }
  t.family_ = fam;
  // A named family reads its spelling from the model's template only when that
  // template is of the family; otherwise it renders the family's plain form.
  static const std::vector<std::pair<std::string, std::string>> kMarker = {
      {"chatml", "<|im_start|>"}, {"llama3", "<|start_header_id|>"}, {"llama2", "<<SYS>>"}, {"mistral", "[INST]"}};
  std::string n_own = n;
  for (const auto& [f, marker] : kMarker)
    if (f == fam && !Has(n, marker)) n_own.clear();
  const bool plain = n_own.empty();
  t.add_bos_ = plain || Has(n_own, "bos_token");
  if (fam == "chatml") {
    static const std::regex kSys(R"('<\|im_start\|>system\n((?:[^'\\]|\\.)+?)<\|im_end\|>)");
    const std::string unescaped = UnescapeNewlines(source);
    std::smatch m;
    if (!plain && std::regex_search(unescaped, m, kSys)) t.default_system_ = Unescape(m[1].str());
    if (plain) t.add_bos_ = false;
    return t;
  }
  if (fam == "llama3" && Has(n_own, "Cutting Knowledge Date")) {
    // Llama 3.1 / 3.2 / 3.3: a system header that always opens the chat, with the
    // knowledge cutoff and today's date (strftime_now, as transformers supplies it)
    // or the template's fixed date_string.
    static const std::regex kCut(R"((Cutting Knowledge Date: [^'\\\n]*))");
    static const std::regex kDate(R"(set date_string\s*=\s*'([^']*)')");
    std::smatch m;
    if (std::regex_search(n_own, m, kCut)) t.knowledge_line_ = m[1].str();
    if (std::regex_search(n_own, m, kDate)) t.date_string_ = m[1].str();
    t.date_from_clock_ = Has(n_own, "strftime_now");
    t.dated_ = true;
  }
  if (fam == "llama3" || fam == "llama2") return t;
  if (fam != "mistral") return InvalidInput("data.template: unknown chat format '" + fam + "' (expected auto, chatml, llama3, llama2 or mistral)");
  if (plain) {
    t.system_at_ = SystemAt::kFirstUser;
    return t;
  }
  n = n_own;
  if (Has(n, "' [INST] '+")) t.inst_open_ = " [INST] ";
  else if (Has(n, "'[INST] '+")) t.inst_open_ = "[INST] ";
  else if (Has(n, "'[INST]'+")) t.inst_open_ = "[INST]";
  else return Unsupported("an [INST] template whose user turn we cannot read");
  if (Has(n, "+' [/INST]'")) t.inst_close_ = " [/INST]";
  else if (Has(n, "+'[/INST]'")) t.inst_close_ = "[/INST]";
  else return Unsupported("an [INST] template without [/INST]");
  if (Has(n, "' '+message.content|trim+eos_token")) {
    t.reply_prefix_ = " ";
    t.trim_reply_ = true;
  } else if (Has(n, "' '+message.content+eos_token")) {
    t.reply_prefix_ = " ";
  } else if (!Has(n, "message.content+eos_token")) {
    return Unsupported("an [INST] template whose assistant turn we cannot read");
  }
  if (Has(n, "loop.last and system_message is defined")) t.system_at_ = SystemAt::kLastUser;
  else if (Has(n, "loop.first and system_message is defined")) t.system_at_ = SystemAt::kFirstUser;
  else if (Has(n, "system_message")) return Unsupported("an [INST] template that places the system prompt elsewhere");
  return t;
}

StatusOr<RenderedChat> ChatTemplate::Render(const std::vector<ChatMessage>& msgs, bool gen) const {
  RenderedChat r;
  std::string& o = r.text;
  if (msgs.empty()) return InvalidInput("a conversation needs at least one message");
  auto reply = [&](const std::string& body, const std::string& end) {
    const size_t b = o.size();
    o += body + end;
    r.assistant_spans.emplace_back(b, o.size());
  };
  if (family_ == "chatml") {
    size_t first = 0;
    if (msgs[0].role == "system") {
      o += "<|im_start|>system\n" + msgs[0].content + "<|im_end|>\n";
      first = 1;
    } else if (!default_system_.empty()) {
      o += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
    }
    for (size_t i = first; i < msgs.size(); ++i) {
      o += "<|im_start|>" + msgs[i].role + "\n";
      if (msgs[i].role == "assistant") reply(msgs[i].content, "<|im_end|>");
      else o += msgs[i].content + "<|im_end|>";
      o += "\n";
    }
    if (gen) o += "<|im_start|>assistant\n";
    return r;
  }
  if (family_ == "llama3" && dated_) {
    o += bos_ + "<|start_header_id|>system<|end_header_id|>\n\n" + knowledge_line_ + "\nToday Date: " + date() + "\n\n";
    size_t first = 0;
    if (msgs[0].role == "system") {
      o += PyStrip(msgs[0].content);
      first = 1;
    }
    o += "<|eot_id|>";
    for (size_t i = first; i < msgs.size(); ++i) {
      o += "<|start_header_id|>" + msgs[i].role + "<|end_header_id|>\n\n";
      if (msgs[i].role == "assistant") reply(PyStrip(msgs[i].content), "<|eot_id|>");
      else o += PyStrip(msgs[i].content) + "<|eot_id|>";
    }
    if (gen) o += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return r;
  }
  if (family_ == "llama3") {
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (i == 0 && add_bos_) o += bos_;
      o += "<|start_header_id|>" + msgs[i].role + "<|end_header_id|>\n\n";
      if (msgs[i].role == "assistant") reply(PyStrip(msgs[i].content), "<|eot_id|>");
      else o += PyStrip(msgs[i].content) + "<|eot_id|>";
    }
    if (gen) o += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return r;
  }
  // llama2 and mistral: an optional leading system prompt, then user/assistant alternating.
  std::optional<std::string> system;
  size_t first = 0;
  if (msgs[0].role == "system") {
    if (family_ == "mistral" && system_at_ == SystemAt::kRefused)
      return InvalidInput("this chat template supports only user and assistant roles (no system message)");
    system = msgs[0].content;
    first = 1;
  }
  for (size_t i = first; i < msgs.size(); ++i) {
    const bool want_user = (i - first) % 2 == 0;
    if ((msgs[i].role == "user") != want_user || (msgs[i].role != "user" && msgs[i].role != "assistant"))
      return InvalidInput("message " + std::to_string(i) + " has role '" + msgs[i].role +
                          "': after the optional system message, roles must alternate user/assistant/user/...");
  }
  if (family_ == "llama2") {
    for (size_t i = first; i < msgs.size(); ++i) {
      std::string content = msgs[i].content;
      if (i == first && system) content = "<<SYS>>\n" + *system + "\n<</SYS>>\n\n" + content;
      if (msgs[i].role == "user") {
        o += bos_ + "[INST] " + PyStrip(content) + " [/INST]";
      } else {
        // The space before a reply is part of it: sentencepiece joins it to the
        // reply's first piece, which the model has to produce.
        reply(" " + PyStrip(content), " " + eos_);
      }
    }
    return r;
  }
  if (add_bos_) o += bos_;
  for (size_t i = first; i < msgs.size(); ++i) {
    if (msgs[i].role == "user") {
      const bool with_sys = system && ((system_at_ == SystemAt::kFirstUser && i == first) ||
                                       (system_at_ == SystemAt::kLastUser && i == msgs.size() - 1));
      o += inst_open_ + (with_sys ? *system + "\n\n" : "") + msgs[i].content + inst_close_;
    } else {
      reply(reply_prefix_ + (trim_reply_ ? PyStrip(msgs[i].content) : msgs[i].content), eos_);
    }
  }
  return r;
}

std::string ChatTemplate::date() const {
  if (!fixed_date_.empty() || !date_from_clock_) return fixed_date_.empty() ? date_string_ : fixed_date_;
  // strftime("%d %b %Y") in the C locale, local time, as Python's datetime does.
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d %s %d", tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900);
  return buf;
}

StatusOr<std::optional<std::string>> ReadChatTemplate(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const std::string jinja = (fs::path(model_dir) / "chat_template.jinja").string();
  if (PathExists(jinja)) {
    ST_ASSIGN_OR_RETURN(std::string t, ReadFile(jinja));
    return std::optional<std::string>(t);
  }
  const std::string cfg = (fs::path(model_dir) / "tokenizer_config.json").string();
  if (!PathExists(cfg)) return std::optional<std::string>();
  ST_ASSIGN_OR_RETURN(json c, ReadJsonFile(cfg));
  if (!c.contains("chat_template") || c["chat_template"].is_null()) return std::optional<std::string>();
  const json& t = c["chat_template"];
  if (t.is_string()) return std::optional<std::string>(t.get<std::string>());
  if (t.is_array()) {
    for (const auto& e : t)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
        return std::optional<std::string>(e["template"].get<std::string>());
  }
  return InvalidInput(cfg + ": chat_template: expected a string or a list with a {\"name\": \"default\"} entry, found " +
                      t.dump().substr(0, 80));
}

StatusOr<ChatTemplate> LoadChatTemplate(const std::string& model_dir, const Tokenizer& tok, const std::string& format) {
  ST_ASSIGN_OR_RETURN(auto source, ReadChatTemplate(model_dir));
  const std::string bos = tok.bos_id() >= 0 ? tok.Piece(tok.bos_id()) : "";
  const std::string eos = tok.eos_id() >= 0 ? tok.Piece(tok.eos_id()) : "";
  const bool named = !format.empty() && format != "auto";
  if (!source && !named)
    return InvalidInput(model_dir + ": no chat_template (tokenizer_config.json or chat_template.jinja); name the format "
                        "(chatml, llama3, llama2, mistral) to render one");
  auto t = ChatTemplate::Create(named ? (source ? *source : "") : *source, format, bos, eos);
  if (!t.ok()) return InvalidInput(model_dir + ": " + t.status().message());
  return t;
}

StatusOr<std::vector<ChatMessage>> ParseChatMessages(const std::string& json_text, const std::string& where) {
  ST_ASSIGN_OR_RETURN(json j, ParseJson(json_text, where));
  bool sharegpt = false;
  if (j.is_object()) {
    if (j.contains("messages")) j = j["messages"];
    else if (j.contains("conversations")) {
      j = j["conversations"];
      sharegpt = true;
    } else {
      return InvalidInput(where + ": expected a list of messages, {\"messages\": [...]} or {\"conversations\": [...]}");
    }
  }
  if (!j.is_array()) return InvalidInput(where + ": messages: expected a list, found " + std::string(j.type_name()));
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& m = j[i];
    const std::string at = where + ": message " + std::to_string(i);
    const char* role_key = sharegpt ? "from" : "role";
    const char* text_key = sharegpt ? "value" : "content";
    if (!m.is_object() || !m.contains(role_key) || !m[role_key].is_string() || !m.contains(text_key) ||
        !m[text_key].is_string())
      return InvalidInput(at + ": expected {\"" + role_key + "\": string, \"" + text_key + "\": string}");
    std::string role = m[role_key].get<std::string>();
    if (sharegpt) {
      if (role == "human" || role == "user") role = "user";
      else if (role == "gpt" || role == "assistant") role = "assistant";
      else if (role != "system")
        return InvalidInput(at + ": from '" + role + "': expected human, gpt or system");
    } else if (role != "system" && role != "user" && role != "assistant") {
      return InvalidInput(at + ": role '" + role + "': expected system, user or assistant");
    }
    out.push_back({role, m[text_key].get<std::string>()});
  }
  return out;
}

ChatTokens TokenizeChat(const Tokenizer& tok, const RenderedChat& chat) {
  ChatTokens t;
  std::vector<size_t> starts;
  t.ids = tok.EncodeWithOffsets(chat.text, &starts);
  t.mask.assign(t.ids.size(), 0);
  size_t s = 0;
  for (size_t i = 0; i < t.ids.size(); ++i) {
    while (s < chat.assistant_spans.size() && chat.assistant_spans[s].second <= starts[i]) ++s;
    if (s < chat.assistant_spans.size() && starts[i] >= chat.assistant_spans[s].first) t.mask[i] = 1;
  }
  return t;
}

}  // namespace st::data
