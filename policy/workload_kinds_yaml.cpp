// Parser of workload-kind YAML (see workload_kinds_yaml.hpp), with file:line:column errors.
#include "policy/workload_kinds_yaml.hpp"

#include <algorithm>
#include <string>

#include "policy/workload.hpp"

namespace exportgate::policy {

namespace {

class Reader {
 public:
  Reader(std::string_view filename, std::vector<Diagnostic>& errors)
      : filename_(filename), errors_(errors) {}

  void error(const YAML::Node& node, const YAML::Mark& fallback, std::string message) {
    const YAML::Mark m = node.IsDefined() && node.Mark().line >= 0 ? node.Mark() : fallback;
    errors_.push_back(
        Diagnostic{std::string(filename_), m.line + 1, m.column + 1, std::move(message)});
    ok_ = false;
  }

  // A non-empty string scalar at node[key]; "" after reporting an error.
  std::string string_field(const YAML::Node& map, const char* key, std::string_view where,
                           bool allow_empty = false) {
    const YAML::Node v = map[key];
    if (!v.IsDefined() || v.IsNull()) {
      error(map, map.Mark(), std::string(where) + ": missing required field \"" + key + "\"");
      return {};
    }
    if (!v.IsScalar() || (!allow_empty && v.Scalar().empty())) {
      error(v, map.Mark(), std::string(where) + "." + key + ": expected a non-empty string");
      return {};
    }
    return v.Scalar();
  }

  void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> known,
                  std::string_view where) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string expected;
        for (auto k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
        error(it->first, map.Mark(),
              std::string(where) + ": unknown field \"" + key + "\" (expected " + expected + ")");
      }
    }
  }

  std::vector<FieldPathStep> path(const YAML::Node& node, const std::string& text,
                                  std::string_view where) {
    std::string problem;
    auto steps = parse_field_path(text, problem);
    if (steps.empty()) error(node, node.Mark(), std::string(where) + ": invalid path: " + problem);
    return steps;
  }

  bool ok() const { return ok_; }
  void reset() { ok_ = true; }

 private:
  std::string_view filename_;
  std::vector<Diagnostic>& errors_;
  bool ok_ = true;
};

// Replica paths bind their wildcards to the template's: the k-th wildcard of a replica path must
// be of the same kind as the k-th of the template path, and there may not be more of them.
std::string wildcard_mismatch(const std::vector<FieldPathStep>& tmpl,
                              const std::vector<FieldPathStep>& replicas) {
  std::vector<const FieldPathStep*> a, b;
  for (const auto& s : tmpl)
    if (s.wildcard()) a.push_back(&s);
  for (const auto& s : replicas)
    if (s.wildcard()) b.push_back(&s);
  if (b.size() > a.size()) {
    return "has " + std::to_string(b.size()) + " wildcards but the template path only " +
           std::to_string(a.size());
  }
  for (size_t i = 0; i < b.size(); ++i) {
    if (a[i]->each_element != b[i]->each_element || a[i]->key != b[i]->key) {
      return "wildcard " + std::to_string(i + 1) +
             " does not walk the same field as the template path's";
    }
  }
  return {};
}

}  // namespace

void merge_workload_kinds_yaml(const YAML::Node& root, std::string_view filename,
                               std::vector<WorkloadKind>& into, std::vector<Diagnostic>& errors) {
  Reader r(filename, errors);
  YAML::Node list = root;
  if (root.IsMap() && root["workloadKinds"]) list = root["workloadKinds"];
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    r.error(list, list.Mark(), "workloadKinds: expected a sequence of {group, kind, podTemplates}");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    const std::string where = "workloadKinds[" + std::to_string(i) + "]";
    r.reset();
    if (!entry.IsMap()) {
      r.error(entry, list.Mark(), where + ": expected a mapping with group, kind, podTemplates");
      continue;
    }
    r.check_keys(entry, {"group", "kind", "podTemplates"}, where);
    WorkloadKind kind;
    kind.group = r.string_field(entry, "group", where);
    kind.kind = r.string_field(entry, "kind", where);
    const YAML::Node templates = entry["podTemplates"];
    if (!templates.IsDefined() || !templates.IsSequence() || templates.size() == 0) {
      r.error(templates, entry.Mark(),
              where + ".podTemplates: expected a non-empty sequence of {template, replicas}");
      continue;
    }
    for (size_t t = 0; t < templates.size(); ++t) {
      const YAML::Node tn = templates[t];
      const std::string twhere = where + ".podTemplates[" + std::to_string(t) + "]";
      if (!tn.IsMap()) {
        r.error(tn, templates.Mark(), twhere + ": expected a mapping with template and replicas");
        continue;
      }
      r.check_keys(tn, {"template", "podSpec", "resources", "containers", "replicas"}, twhere);
      PodTemplatePath path;
      const char* form_key = nullptr;
      int forms = 0;
      for (const auto& [key, form] : {std::pair{"template", PodTemplatePath::Form::kTemplate},
                                      std::pair{"podSpec", PodTemplatePath::Form::kPodSpec},
                                      std::pair{"resources", PodTemplatePath::Form::kResources}}) {
        if (!tn[key].IsDefined()) continue;
        ++forms;
        form_key = key;
        path.form = form;
      }
      if (forms != 1) {
        r.error(tn, templates.Mark(),
                twhere + ": expected exactly one of template, podSpec, resources");
        continue;
      }
      path.template_path = r.string_field(tn, form_key, twhere);
      if (path.template_path.empty()) continue;
      const auto tsteps =
          r.path(tn[form_key], path.template_path, twhere + "." + std::string(form_key));
      // Paths whose wildcards bind to the template's: replicas ("a|b" alternatives) and
      // containers.
      auto bound_paths = [&](const char* key, bool alternatives, std::vector<std::string>& out) {
        const YAML::Node list = tn[key];
        if (!list.IsDefined() || list.IsNull()) return;
        if (!list.IsSequence()) {
          r.error(list, tn.Mark(), twhere + "." + key + ": expected a sequence of field paths");
          return;
        }
        for (size_t k = 0; k < list.size(); ++k) {
          const YAML::Node rn = list[k];
          const std::string rwhere = twhere + "." + key + "[" + std::to_string(k) + "]";
          if (!rn.IsScalar() || rn.Scalar().empty()) {
            r.error(rn, list.Mark(), rwhere + ": expected a field path string");
            continue;
          }
          const std::string& text = rn.Scalar();
          size_t begin = 0;
          while (true) {
            const size_t bar = alternatives ? text.find('|', begin) : std::string::npos;
            const std::string one =
                text.substr(begin, bar == std::string::npos ? bar : bar - begin);
            const auto rsteps = r.path(rn, one, rwhere);
            if (!rsteps.empty() && !tsteps.empty()) {
              if (auto problem = wildcard_mismatch(tsteps, rsteps); !problem.empty()) {
                r.error(rn, list.Mark(), rwhere + ": " + problem);
              }
            }
            if (bar == std::string::npos) break;
            begin = bar + 1;
          }
          out.push_back(text);
        }
      };
      bound_paths("replicas", true, path.replica_paths);
      bound_paths("containers", false, path.container_paths);
      kind.pod_templates.push_back(std::move(path));
    }
    if (!r.ok()) continue;
    auto existing = std::find_if(into.begin(), into.end(), [&](const WorkloadKind& k) {
      return k.group == kind.group && k.kind == kind.kind;
    });
    if (existing != into.end()) {
      *existing = std::move(kind);
    } else {
      into.push_back(std::move(kind));
    }
  }
}

}  // namespace exportgate::policy
