// JSON parsing with a nesting bound. nlohmann's parser is iterative, but copying, dumping, diffing
// and destroying a document recurse once per level: tens of thousands of nested arrays in one
// request would overflow a worker's stack. The bound is checked while parsing, before anything
// recursive runs.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

namespace exportgate::policy {

// Real Kubernetes objects nest a few dozen levels (Argo workflows perhaps a hundred); Go's
// encoding/json, which the API server uses, stops at 10,000. 1,000 keeps recursion shallow on any
// thread stack (also under sanitizers) and still admits every real object.
inline constexpr int kMaxJsonDepth = 1000;

class JsonTooDeep : public std::runtime_error {
 public:
  JsonTooDeep();
};

// json::parse with the bound: throws JsonTooDeep past kMaxJsonDepth, and what json::parse throws.
nlohmann::json parse_json_bounded(std::string_view text);

// As above, with `then` called for every parse event after the bound is checked (as json::parse
// calls its callback: returning false discards the value). Lets a caller take a large document
// apart while it is parsed, e.g. one list item at a time.
nlohmann::json parse_json_bounded(std::string_view text,
                                  const nlohmann::json::parser_callback_t& then);

// As above, but any failure (syntax, depth, range) gives a discarded value, like
// json::parse(text, nullptr, false).
nlohmann::json parse_json_bounded_or_discarded(std::string_view text);

}  // namespace exportgate::policy
