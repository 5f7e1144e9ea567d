// Typed, position-aware reading of YAML nodes for the policy loader (see policy_yaml_reader.hpp).
#include "policy/policy_yaml_reader.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "policy/spelling.hpp"

namespace exportgate::policy {

namespace {

bool is_plain(const YAML::Node& node) {
  return node.Tag() != "!";
}

// Records document starts and ignores every other event.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::vector<YAML::Mark> yaml_document_starts(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentStarts handler;
  while (parser.HandleNextDocument(handler)) {
    const auto& s = handler.starts;
    // A document that starts where the previous one did consumed nothing: yaml-cpp would
    // return it forever. Report it as the syntax error it is.
    if (s.size() >= 2 && s[s.size() - 1].pos == s[s.size() - 2].pos) {
      throw YAML::ParserException(s.back(), "unexpected content after the end of the document");
    }
  }
  return handler.starts;
}

std::string closest_match(std::string_view word,
                          std::initializer_list<std::string_view> candidates) {
  // Only suggest close matches: two edits, or a third of the word for longer words.
  return std::string(nearest(word, candidates, std::max<size_t>(2, word.size() / 3) + 1, true));
}

std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing (null)";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  std::string s = node.Scalar();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return quoted(s);
}

void YamlReader::error(const YAML::Mark& at, std::string message) {
  Diagnostic d;
  d.file = filename_;
  // yaml-cpp marks are 0-based; a null mark (-1) means "position unknown".
  d.line = at.line >= 0 ? at.line + 1 : 0;
  d.column = at.column >= 0 ? at.column + 1 : 0;
  d.message = std::move(message);
  diagnostics_.push_back(std::move(d));
}

void YamlReader::error(const YAML::Node& at, std::string message) {
  if ((!at.IsDefined() || at.IsNull()) && !key_marks_.empty()) {
    error(key_marks_.back(), std::move(message));
  } else {
    error(at.Mark(), std::move(message));
  }
}

bool YamlReader::expect_map(const YAML::Node& node, std::string_view path) {
  if (node.IsMap()) return true;
  error(node, std::string(path) + ": expected a mapping (key: value), got " + describe_node(node));
  return false;
}

bool YamlReader::expect_seq(const YAML::Node& node, std::string_view path) {
  if (node.IsSequence()) return true;
  error(node, std::string(path) + ": expected a list, got " + describe_node(node));
  return false;
}

void YamlReader::check_unique_keys(const YAML::Node& map, std::string_view path) {
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      error(it->first,
            std::string(path) + ": expected a plain key, got " + describe_node(it->first));
      continue;
    }
    if (!seen.insert(it->first.Scalar()).second) {
      error(it->first, std::string(path) + ": duplicate key " + quoted(it->first.Scalar()) +
                           "; each key may appear once");
    }
  }
}

bool YamlReader::check_keys(const YAML::Node& map, std::string_view path,
                            std::initializer_list<std::string_view> allowed) {
  const size_t before = error_count();
  check_unique_keys(map, path);
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string message = std::string(path) + ": unknown field " + quoted(key);
    if (auto guess = closest_match(key, allowed); !guess.empty()) {
      message += "; did you mean " + quoted(guess) + "?";
    }
    message += " (allowed: " + join_words(allowed) + ")";
    error(it->first, std::move(message));
  }
  return error_count() == before;
}

std::optional<std::string> YamlReader::string(const YAML::Node& node, std::string_view path) {
  if (node.IsScalar()) return node.Scalar();
  error(node, std::string(path) + ": expected a string, got " + describe_node(node));
  return std::nullopt;
}

std::optional<double> YamlReader::number(const YAML::Node& node, std::string_view path) {
  if (node.IsScalar() && is_plain(node)) {
    double value = 0;
    if (YAML::convert<double>::decode(node, value) && std::isfinite(value)) return value;
  }
  error(node, std::string(path) + ": expected a number, got " + describe_node(node));
  return std::nullopt;
}

std::optional<double> YamlReader::positive_number(const YAML::Node& node, std::string_view path,
                                                  std::string_view unit) {
  auto value = number(node, path);
  if (!value) return std::nullopt;
  if (*value <= 0) {
    error(node, std::string(path) + ": expected a positive number of " + std::string(unit) +
                    ", got " + describe_node(node));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::boolean(const YAML::Node& node, std::string_view path) {
  if (node.IsScalar() && is_plain(node)) {
    bool value = false;
    if (YAML::convert<bool>::decode(node, value)) return value;
  }
  error(node, std::string(path) + ": expected true or false, got " + describe_node(node));
  return std::nullopt;
}

std::optional<std::vector<std::string>> YamlReader::string_list(const YAML::Node& node,
                                                                std::string_view path) {
  if (!node.IsSequence()) {
    error(node, std::string(path) + ": expected a list of strings, got " + describe_node(node));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node item = node[i];
    if (item.IsScalar()) {
      out.push_back(item.Scalar());
    } else {
      error(item, std::string(path) + "[" + std::to_string(i) + "]: expected a string, got " +
                      describe_node(item));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> YamlReader::one_of(const YAML::Node& node, std::string_view path,
                                              std::initializer_list<std::string_view> choices) {
  if (node.IsScalar()) {
    const std::string& value = node.Scalar();
    if (std::find(choices.begin(), choices.end(), value) != choices.end()) return value;
  }
  std::string message = std::string(path) + ": expected one of " + join_words(choices) + ", got " +
                        describe_node(node);
  if (node.IsScalar()) {
    if (auto guess = closest_match(node.Scalar(), choices); !guess.empty()) {
      message += "; did you mean " + quoted(guess) + "?";
    }
  }
  error(node, std::move(message));
  return std::nullopt;
}

}  // namespace exportgate::policy
