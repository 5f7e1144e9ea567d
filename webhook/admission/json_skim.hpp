// A validating JSON skimmer: walks JSON text without building a DOM, so the admission fast path
// can parse only the parts it needs, visiting every byte once. Deliberately conservative:
// anything it cannot vouch for (invalid JSON, non-ASCII bytes, deep nesting, an escaped key
// where keys are matched) makes it give up, and the caller falls back to the full nlohmann
// parse, which then reports the exact error.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace exportgate::webhook::skim {

const char* skip_ws(const char* p, const char* end);

// Skips one value starting at `p` (no leading whitespace). Returns the end of the value, or
// nullptr when the text is not something the skimmer vouches for.
const char* skip_value(const char* p, const char* end, int depth = 0);

// The end of a string starting at `p` ('"'), or nullptr; `escaped` tells if it held escapes.
const char* skip_string(const char* p, const char* end, bool& escaped);

// Parses the value starting at `p` (no leading whitespace) into `out`, the same value
// nlohmann::json::parse gives for that text, validating as skip_value does; returns its end,
// or nullptr (then `out` is unspecified). Builds the DOM directly: calling json::parse for each
// kept value cost more than the values themselves (a lexer and a parser per call), and was 3/4
// of the fast path's instructions. Escaped strings and numbers other than plain integers are
// still converted by nlohmann, so their values stay exactly the same; it may throw what
// json::parse throws for them (e.g. a number out of range).
const char* build_value(const char* p, const char* end, nlohmann::json& out, int depth = 0);

// Walks the object starting at `p` ('{'): for each member calls fn(key, value_begin), which
// consumes the value (parses or skips it) and returns its end, or nullptr to give up. Returns
// the end of the object, or nullptr. With `plain_keys`, a key with escapes gives up: callers
// that match keys need them plain, so "spec" spelled with a \u escape cannot slip past.
template <class Fn>
const char* walk_object(const char* p, const char* end, Fn&& fn, bool plain_keys = true) {
  if (p >= end || *p != '{') return nullptr;
  p = skip_ws(p + 1, end);
  if (p < end && *p == '}') return p + 1;
  for (;;) {
    if (p >= end || *p != '"') return nullptr;
    bool escaped = false;
    const char* key_end = skip_string(p, end, escaped);
    if (!key_end || (escaped && plain_keys)) return nullptr;
    const std::string_view key(p + 1, static_cast<size_t>(key_end - p - 2));
    p = skip_ws(key_end, end);
    if (p >= end || *p != ':') return nullptr;
    p = skip_ws(p + 1, end);
    // Callbacks may read *p: a body truncated after the colon must end here, not past `end`.
    if (p >= end) return nullptr;
    const char* value_end = fn(key, p);
    if (!value_end) return nullptr;
    p = skip_ws(value_end, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    if (p < end && *p == '}') return p + 1;
    return nullptr;
  }
}

// Walks the array starting at `p` ('['): fn(value_begin) consumes each element and returns its
// end (or nullptr). Returns the end of the array, or nullptr.
template <class Fn>
const char* walk_array(const char* p, const char* end, Fn&& fn) {
  if (p >= end || *p != '[') return nullptr;
  p = skip_ws(p + 1, end);
  if (p < end && *p == ']') return p + 1;
  for (;;) {
    if (p >= end) return nullptr;  // as in walk_object: callbacks may read *p
    const char* value_end = fn(p);
    if (!value_end) return nullptr;
    p = skip_ws(value_end, end);
    if (p < end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    if (p < end && *p == ']') return p + 1;
    return nullptr;
  }
}

}  // namespace exportgate::webhook::skim
