// Escaping for the self-contained HTML reports (data report, run report).
#pragma once

#include <string>

namespace st {

// Text for an HTML element or a quoted attribute: & < > " escaped.
inline std::string HtmlEscape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

}  // namespace st
