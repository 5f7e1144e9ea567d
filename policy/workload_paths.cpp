// Field-path syntax and evaluation for pod templates of custom resources (see workload_paths.hpp).
#include "policy/workload_paths.hpp"

#include "policy/errors.hpp"

namespace exportgate::policy {

std::vector<FieldPathStep> parse_field_path(std::string_view path, std::string& error) {
  std::vector<FieldPathStep> steps;
  error.clear();
  if (path.empty()) {
    error = "empty path";
    return {};
  }
  size_t pos = 0;
  while (true) {
    const size_t dot = path.find('.', pos);
    const std::string_view part =
        path.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
    FieldPathStep step;
    if (part == "*") {
      step.each_value = true;
    } else {
      std::string_view key = part;
      if (key.size() >= 3 && key.substr(key.size() - 3) == "[*]") {
        step.each_element = true;
        key.remove_suffix(3);
      }
      if (key.empty() || key.find_first_of("[]*") != std::string_view::npos) {
        error = "step \"" + std::string(part) + "\" at offset " + std::to_string(pos) + " of \"" +
                std::string(path) +
                "\": expected a field name, optionally followed by [*], or * alone";
        return {};
      }
      step.key = std::string(key);
    }
    steps.push_back(std::move(step));
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return steps;
}

size_t wildcard_count(const std::vector<FieldPathStep>& steps) {
  size_t n = 0;
  for (const auto& s : steps) n += s.wildcard() ? 1 : 0;
  return n;
}

namespace {

void append_key(std::string& concrete, std::string_view key) {
  if (!concrete.empty()) concrete += '.';
  concrete += key;
}

void walk(const nlohmann::json& node, const std::vector<FieldPathStep>& steps, size_t i,
          PathMatch& current, std::vector<PathMatch>& out) {
  if (i == steps.size()) {
    PathMatch m = current;
    m.node = &node;
    out.push_back(std::move(m));
    return;
  }
  const FieldPathStep& step = steps[i];
  if (step.each_value) {
    if (node.is_null()) return;
    if (!node.is_object()) throw ManifestError(current.concrete + ": expected a map for `*`");
    for (auto it = node.begin(); it != node.end(); ++it) {
      PathMatch next = current;
      append_key(next.concrete, it.key());
      next.choices.push_back(PathChoice{0, it.key()});
      next.wildcard_end = next.concrete.size();
      walk(*it, steps, i + 1, next, out);
    }
    return;
  }
  if (!node.is_object()) {
    if (node.is_null()) return;
    throw ManifestError(current.concrete + ": expected an object with field \"" + step.key + "\"");
  }
  auto it = node.find(step.key);
  if (it == node.end() || it->is_null()) return;
  PathMatch next = current;
  append_key(next.concrete, step.key);
  if (!step.each_element) {
    walk(*it, steps, i + 1, next, out);
    return;
  }
  if (!it->is_array()) throw ManifestError(next.concrete + ": expected an array");
  for (size_t k = 0; k < it->size(); ++k) {
    PathMatch element = next;
    element.concrete += "[" + std::to_string(k) + "]";
    element.choices.push_back(PathChoice{k, {}});
    element.wildcard_end = element.concrete.size();
    walk((*it)[k], steps, i + 1, element, out);
  }
}

}  // namespace

std::vector<PathMatch> find_path_matches(const nlohmann::json& root,
                                         const std::vector<FieldPathStep>& steps) {
  std::vector<PathMatch> out;
  PathMatch start;
  walk(root, steps, 0, start, out);
  return out;
}

const nlohmann::json* resolve_path(const nlohmann::json& root,
                                   const std::vector<FieldPathStep>& steps,
                                   const std::vector<PathChoice>& choices, std::string& concrete) {
  concrete.clear();
  const nlohmann::json* node = &root;
  size_t choice = 0;
  for (const FieldPathStep& step : steps) {
    if (step.wildcard() && choice >= choices.size()) {
      throw ManifestError("path has more wildcards than its pod template path");
    }
    if (step.each_value) {
      if (!node->is_object()) return nullptr;
      const std::string& key = choices[choice++].key;
      auto it = node->find(key);
      if (it == node->end()) return nullptr;
      append_key(concrete, key);
      node = &*it;
      continue;
    }
    if (!node->is_object()) return nullptr;
    auto it = node->find(step.key);
    if (it == node->end() || it->is_null()) return nullptr;
    append_key(concrete, step.key);
    node = &*it;
    if (step.each_element) {
      const size_t index = choices[choice++].index;
      if (!node->is_array() || index >= node->size()) return nullptr;
      concrete += "[" + std::to_string(index) + "]";
      node = &(*node)[index];
    }
  }
  return node;
}

}  // namespace exportgate::policy
