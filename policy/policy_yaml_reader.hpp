// Typed, position-aware reading of YAML nodes for the policy loader: every problem becomes a
// Diagnostic with file:line:column and what was expected, and reading goes on to find the rest.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/errors.hpp"

namespace exportgate::policy {

// `s` in double quotes, as diagnostics name a key or value.
std::string quoted(std::string_view s);

// The closest of `candidates` to `word` (case-insensitive edit distance <= max(2, len/3)), or "".
std::string closest_match(std::string_view word,
                          std::initializer_list<std::string_view> candidates);

class YamlReader {
 public:
  YamlReader(std::string_view filename, std::vector<Diagnostic>& diagnostics)
      : filename_(filename), diagnostics_(diagnostics) {}

  const std::string& filename() const { return filename_; }
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }
  size_t error_count() const { return diagnostics_.size(); }

  // Adds a diagnostic at a yaml-cpp mark (0-based; reported 1-based; a null mark gives 0:0).
  void error(const YAML::Mark& at, std::string message);
  void error(const YAML::Node& at, std::string message);

  // Iterates a mapping's entries after reporting unknown keys (with a suggestion and the allowed
  // list), duplicate keys and non-scalar keys. Returns false (and reports) when `node` is not a
  // mapping. `path` names the node in messages ("spec.tiers.tier2").
  bool expect_map(const YAML::Node& node, std::string_view path);
  bool check_keys(const YAML::Node& map, std::string_view path,
                  std::initializer_list<std::string_view> allowed);
  // Reports duplicate and non-scalar keys of a mapping whose keys are free-form.
  void check_unique_keys(const YAML::Node& map, std::string_view path);
  bool expect_seq(const YAML::Node& node, std::string_view path);

  // Calls f(key, key_node, value) for each entry with a scalar key. While f runs, an error about
  // an empty (null) value points at its key: yaml-cpp marks empty values at the next token.
  template <class F>
  void for_each_entry(const YAML::Node& map, F&& f) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) continue;  // reported by check_keys / check_unique_keys
      key_marks_.push_back(it->first.Mark());
      f(it->first.Scalar(), it->first, it->second);
      key_marks_.pop_back();
    }
  }

  // Scalars. Each returns nullopt after reporting when `node` is not of the expected type.
  // Numbers and booleans must be plain (unquoted) scalars.
  std::optional<std::string> string(const YAML::Node& node, std::string_view path);
  std::optional<double> number(const YAML::Node& node, std::string_view path);
  std::optional<double> positive_number(const YAML::Node& node, std::string_view path,
                                        std::string_view unit);
  std::optional<bool> boolean(const YAML::Node& node, std::string_view path);
  // A sequence of strings (a single string is not accepted: lists are always lists).
  std::optional<std::vector<std::string>> string_list(const YAML::Node& node,
                                                      std::string_view path);
  // A string that must be one of `choices`.
  std::optional<std::string> one_of(const YAML::Node& node, std::string_view path,
                                    std::initializer_list<std::string_view> choices);

 private:
  std::string filename_;
  std::vector<Diagnostic>& diagnostics_;
  std::vector<YAML::Mark> key_marks_;
};

// Where each YAML document of `text` starts, found with a bounded event-level parse. Throws
// YAML::ParserException for syntax errors, including input that makes yaml-cpp 0.7's LoadAll
// loop forever (junk after a top-level flow scalar such as `"a", "b"`): use this before LoadAll.
std::vector<YAML::Mark> yaml_document_starts(std::string_view text);

// Human name of a node's type for "got ..." messages: "a mapping", "a list", "null", "\"abc\"".
std::string describe_node(const YAML::Node& node);

}  // namespace exportgate::policy
