// Validating JSON skimmer (see json_skim.hpp). Follows RFC 8259's grammar; rejects (returns
// nullptr for) what it does not vouch for, and the caller then runs the full parser.
#include "webhook/json_skim.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Numbers whose magnitude could leave a double's range (about 1e308) go to the full parser, which
// refuses them ("number overflow"): the skimmer must not vouch for what nlohmann rejects. The
// bound is loose on purpose (a false alarm only costs a full parse): integer digits plus a
// positive exponent at most 300.
constexpr long kMaxDecimalMagnitude = 300;

// The value of four hex digits at p, or -1.
int hex4(const char* p, const char* end) {
  if (end - p < 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    if (!is_hex(c)) return -1;
    v = v * 16 + (is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

const char* skip_number(const char* p, const char* end) {
  long magnitude = 0;  // digits before the point
  if (p < end && *p == '-') ++p;
  if (p >= end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    const char* first = p;
    while (p < end && is_digit(*p)) ++p;
    magnitude = p - first;
    if (magnitude > kMaxDecimalMagnitude) return nullptr;
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
    const bool negative = p < end && *p == '-';
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p >= end || !is_digit(*p)) return nullptr;
    long exponent = 0;
    while (p < end && is_digit(*p)) {
      if (exponent <= kMaxDecimalMagnitude) exponent = exponent * 10 + (*p - '0');
      ++p;
    }
    // A negative one only underflows, which nlohmann accepts (as 0 or a subnormal).
    if (!negative && magnitude + exponent > kMaxDecimalMagnitude) return nullptr;
  }
  return p;
}

const char* skip_literal(const char* p, const char* end, std::string_view word) {
  if (static_cast<size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
    return nullptr;
  }
  return p + word.size();
}

// The first byte at or after `p` that ends the fast scan of a string (see kStringStop), or `end`.
// Strings are most of a review's bytes (annotations, managedFields, env values, probes), so they
// are scanned 16 bytes at a time where SSE2 is there (every x86-64): one signed compare finds
// control characters and non-ASCII bytes together (both are below 0x20 as signed bytes).
inline const char* find_string_stop(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i stop =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmplt_epi8(v, space));
    if (const int mask = _mm_movemask_epi8(stop))
      return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && !kStringStop[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

}  // namespace

const char* skip_ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  return p;
}

const char* skip_string(const char* p, const char* end, bool& escaped) {
  ++p;  // the opening quote
  for (;;) {
    p = find_string_stop(p, end);
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
      case 'u': {
        // nlohmann refuses a lone UTF-16 surrogate: a high one must be followed by "\u" and a
        // low one, and a low one cannot come first.
        const int unit = hex4(p + 1, end);
        if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return nullptr;
        p += 4;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          if (end - p < 7 || p[1] != '\\' || p[2] != 'u') return nullptr;
          const int low = hex4(p + 3, end);
          if (low < 0xDC00 || low > 0xDFFF) return nullptr;
          p += 6;
        }
        break;
      }
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

namespace {

// Plain integers up to 18 digits cannot overflow int64/uint64: converted here, to the type
// nlohmann gives them (unsigned when not negative). Anything else goes through nlohmann.
bool build_integer(const char* p, const char* e, nlohmann::json& out) {
  const bool negative = *p == '-';
  if (e - p - negative > 18) return false;
  for (const char* q = p + negative; q < e; ++q) {
    if (!is_digit(*q)) return false;
  }
  if (negative) {
    int64_t v = 0;
    std::from_chars(p, e, v);
    out = v;
  } else {
    uint64_t v = 0;
    std::from_chars(p, e, v);
    out = v;
  }
  return true;
}

// A member key as nlohmann stores it: `raw` is the text between the quotes.
std::string key_text(std::string_view raw) {
  if (raw.find('\\') == std::string_view::npos) return std::string(raw);
  return nlohmann::json::parse(std::string_view(raw.data() - 1, raw.size() + 2)).get<std::string>();
}

}  // namespace

const char* build_value(const char* p, const char* end, nlohmann::json& out, int depth) {
  if (p >= end || depth > kMaxDepth) return nullptr;
  switch (*p) {
    case '"': {
      bool escaped = false;
      const char* e = skip_string(p, end, escaped);
      if (!e) return nullptr;
      if (escaped) {
        out = nlohmann::json::parse(p, e);
      } else {
        out = std::string(p + 1, e - 1);
      }
      return e;
    }
    case '{': {
      out = nlohmann::json::object();
      auto& members = *out.get_ptr<nlohmann::json::object_t*>();
      // A repeated key keeps its last value, as in nlohmann's parse.
      return walk_object(
          p, end,
          [&](std::string_view k, const char* v) {
            return build_value(v, end, members[key_text(k)], depth + 1);
          },
          false);
    }
    case '[': {
      out = nlohmann::json::array();
      auto& elements = *out.get_ptr<nlohmann::json::array_t*>();
      return walk_array(p, end, [&](const char* v) {
        elements.emplace_back();
        return build_value(v, end, elements.back(), depth + 1);
      });
    }
    case 't':
      out = true;
      return skip_literal(p, end, "true");
    case 'f':
      out = false;
      return skip_literal(p, end, "false");
    case 'n':
      out = nullptr;
      return skip_literal(p, end, "null");
    default: {
      const char* e = skip_number(p, end);
      if (e && !build_integer(p, e, out)) out = nlohmann::json::parse(p, e);
      return e;
    }
  }
}

}  // namespace exportgate::webhook::skim
