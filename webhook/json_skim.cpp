// Validating JSON skimmer (see json_skim.hpp). Follows RFC 8259's grammar; rejects (returns
// nullptr for) what it does not vouch for, and the caller then runs the full parser.
#include "webhook/json_skim.hpp"

#include <array>

namespace exportgate::webhook::skim {

namespace {

// Deeper documents go to the full parser (its parse is iterative; this skimmer recurses).
constexpr int kMaxDepth = 128;

// Bytes inside a string that end the fast scan: the quote, a backslash, control characters
// (invalid in JSON) and non-ASCII bytes (valid UTF-8 is left to the full parser to check).
constexpr std::array<bool, 256> kStringStop = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
  return t;
}();

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

const char* skip_number(const char* p, const char* end) {
  if (p < end && *p == '-') ++p;
  if (p >= end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && is_digit(*p)) ++p;
  } else {
    return nullptr;
  }
  if (p < end && *p == '.') {
    ++p;
    if (p >= end || !is_digit(*p)) return nullptr;
    while (p < end && is_digit(*p)) ++p;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p >= end || !is_digit(*p)) return nullptr;
    while (p < end && is_digit(*p)) ++p;
  }
  return p;
}

const char* skip_literal(const char* p, const char* end, std::string_view word) {
  if (static_cast<size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
    return nullptr;
  }
  return p + word.size();
}

}  // namespace

const char* skip_ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  return p;
}

const char* skip_string(const char* p, const char* end, bool& escaped) {
  ++p;  // the opening quote
  for (;;) {
    while (p < end && !kStringStop[static_cast<unsigned char>(*p)]) ++p;
    if (p >= end) return nullptr;
    if (*p == '"') return p + 1;
    if (*p != '\\') return nullptr;  // a control character or a non-ASCII byte
    escaped = true;
    if (++p >= end) return nullptr;
    switch (*p) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        break;
      case 'u':
        if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4])) {
          return nullptr;
        }
        p += 4;
        break;
      default:
        return nullptr;
    }
    ++p;
  }
}

const char* skip_value(const char* p, const char* end, int depth) {
  if (p >= end || depth > kMaxDepth) return nullptr;
  switch (*p) {
    case '"': {
      bool escaped = false;
      return skip_string(p, end, escaped);
    }
    case '{':
      // Skipped objects may have any keys (managedFields has "k:{\"name\":\"app\"}").
      return walk_object(
          p, end, [&](std::string_view, const char* v) { return skip_value(v, end, depth + 1); },
          false);
    case '[':
      return walk_array(p, end, [&](const char* v) { return skip_value(v, end, depth + 1); });
    case 't':
      return skip_literal(p, end, "true");
    case 'f':
      return skip_literal(p, end, "false");
    case 'n':
      return skip_literal(p, end, "null");
    default:
      return skip_number(p, end);
  }
}

}  // namespace exportgate::webhook::skim
