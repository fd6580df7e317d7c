// UTF-8 <-> code points, for the text stages that work character by character.
// Input is expected to be valid UTF-8 (the readers decode and validate first); a
// byte that does not start a valid sequence becomes U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace st {

std::u32string DecodeUtf8(std::string_view s);
std::string EncodeUtf8(std::u32string_view s);

// Python's str.isspace() for one code point, and str.strip() (Jinja's trim):
// Unicode whitespace removed at both ends.
bool IsPySpace(char32_t c);
std::string PyStrip(const std::string& s);

}  // namespace st
