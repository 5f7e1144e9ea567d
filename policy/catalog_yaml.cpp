// Parses catalog YAML (models, partitions, acceleratorResourcePrefixes) into a Catalog, reporting
// every problem with file:line:column and what was expected.
#include "policy/catalog_yaml.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "policy/rule_status.hpp"
#include "policy/spelling.hpp"

namespace exportgate::policy {
namespace {

const std::initializer_list<std::string_view> kCatalogKeys = {
    "models", "partitions", "acceleratorResourcePrefixes", "asOf"};
const std::initializer_list<std::string_view> kModelKeys = {"id",
                                                            "vendor",
                                                            "name",
                                                            "denseTops",
                                                            "bitLength",
                                                            "dieAreaMm2",
                                                            "datacenter",
                                                            "resources",
                                                            "nodeLabels",
                                                            "source",
                                                            "dieAreaUpperBound",
                                                            "dramBandwidthGBs",
                                                            "interconnectBandwidthGBs",
                                                            "statedClass"};
const std::initializer_list<std::string_view> kPartitionKeys = {"resource", "parents", "fraction"};

// The key within edit distance 2 of `word`, for "did you mean" hints; "" when none.
std::string_view suggestion(std::string_view word, std::initializer_list<std::string_view> keys) {
  return nearest(word, keys, 3, false);
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "\"" + node.Scalar() + "\"";
}

// A plain (unquoted) scalar: numbers and booleans must not be quoted, so that "8" is a string.
bool is_plain_scalar(const YAML::Node& node) {
  return node.IsScalar() && node.Tag() == "?";
}

// Extended resource names are domain-qualified: "nvidia.com/gpu".
bool valid_resource_name(std::string_view r) {
  const auto slash = r.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == r.size()) return false;
  if (r.find('/', slash + 1) != std::string_view::npos) return false;
  return std::all_of(r.begin(), r.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '/';
  });
}

bool valid_model_id(std::string_view id) {
  if (id.empty() || !(std::islower(static_cast<unsigned char>(id[0])) ||
                      std::isdigit(static_cast<unsigned char>(id[0])))) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '.' || c == '_';
  });
}

// "1/7" -> 0.142857...; nullopt unless both are integers with 0 < n <= d.
std::optional<double> parse_ratio(std::string_view s) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  long n = 0, d = 0;
  const auto num = s.substr(0, slash), den = s.substr(slash + 1);
  auto [p1, e1] = std::from_chars(num.data(), num.data() + num.size(), n);
  auto [p2, e2] = std::from_chars(den.data(), den.data() + den.size(), d);
  if (e1 != std::errc() || e2 != std::errc() || p1 != num.data() + num.size() ||
      p2 != den.data() + den.size() || n <= 0 || d <= 0 || n > d) {
    return std::nullopt;
  }
  return static_cast<double>(n) / static_cast<double>(d);
}

class CatalogReader {
 public:
  CatalogReader(std::string_view filename, Catalog& into, std::vector<Diagnostic>& errors)
      : filename_(filename), into_(into), errors_(errors) {}

  void read(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return;  // an empty catalog adds nothing
    if (!node.IsMap()) {
      error(node.Mark(), "catalog must be a mapping with " + join_words(kCatalogKeys) + ", got " +
                             describe(node));
      return;
    }
    std::map<std::string, std::pair<YAML::Node, YAML::Node>> fields;  // key -> (key, value)
    if (!collect(node, "catalog", kCatalogKeys, fields)) return;
    // Models first: partitions name them as parents.
    if (auto it = fields.find("models"); it != fields.end()) read_models(it->second);
    if (auto it = fields.find("partitions"); it != fields.end()) read_partitions(it->second);
    if (auto it = fields.find("acceleratorResourcePrefixes"); it != fields.end()) {
      read_prefixes(it->second);
    }
    // When the data was last reviewed: startup and `policy validate` warn when it is old.
    if (auto it = fields.find("asOf"); it != fields.end()) {
      const YAML::Node& v = it->second.second;
      const std::string text = v.IsScalar() ? v.Scalar() : std::string();
      if (!valid_iso_date(text)) {
        error(v.Mark(), "catalog.asOf: expected a date YYYY-MM-DD, got " + describe(v));
      } else {
        into_.as_of = text;
      }
    }
  }

 private:
  using Entry = std::pair<YAML::Node, YAML::Node>;  // (key node, value node)

  void error(const YAML::Mark& at, std::string message) {
    Diagnostic d;
    d.file = filename_;
    if (at.line >= 0 && at.column >= 0) {
      d.line = at.line + 1;
      d.column = at.column + 1;
    }
    d.message = std::move(message);
    errors_.push_back(std::move(d));
  }
  // Errors about a value point at the value, or at its key when the value is empty: yaml-cpp
  // marks an empty value at the next token, which would mislead.
  void value_error(const Entry& e, std::string message) {
    error(e.second.IsNull() ? e.first.Mark() : e.second.Mark(), std::move(message));
  }

  // Checks a mapping's keys (scalar, known, unique) and gathers the entries by key.
  bool collect(const YAML::Node& map, std::string_view what,
               std::initializer_list<std::string_view> allowed, std::map<std::string, Entry>& out) {
    bool ok = true;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        error(it->first.Mark(), std::string("keys in ") + std::string(what) + " must be strings");
        ok = false;
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string msg = "unknown field \"" + key + "\" in " + std::string(what);
        if (auto s = suggestion(key, allowed); !s.empty()) {
          msg += " (did you mean \"" + std::string(s) + "\"?)";
        }
        error(it->first.Mark(), msg + ", expected one of " + join_words(allowed));
        ok = false;
        continue;
      }
      if (out.count(key)) {
        error(it->first.Mark(), "duplicate field \"" + key + "\" in " + std::string(what) +
                                    " (first at line " +
                                    std::to_string(out[key].first.Mark().line + 1) + ")");
        ok = false;
        continue;
      }
      out.emplace(key, Entry{it->first, it->second});
    }
    return ok;
  }

  std::optional<std::string> string(const Entry& e, std::string_view what) {
    if (!e.second.IsScalar() || e.second.IsNull() || e.second.Scalar().empty()) {
      value_error(e, std::string(what) + " must be a non-empty string, got " + describe(e.second));
      return std::nullopt;
    }
    return e.second.Scalar();
  }

  std::optional<double> number(const Entry& e, std::string_view what) {
    if (!is_plain_scalar(e.second)) {
      value_error(e, std::string(what) + " must be a number, got " + describe(e.second));
      return std::nullopt;
    }
    double v = 0;
    const std::string& s = e.second.Scalar();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
      value_error(e, std::string(what) + " must be a number, got " + describe(e.second));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const Entry& e, std::string_view what) {
    if (is_plain_scalar(e.second)) {
      if (e.second.Scalar() == "true") return true;
      if (e.second.Scalar() == "false") return false;
    }
    value_error(e, std::string(what) + " must be true or false, got " + describe(e.second));
    return std::nullopt;
  }

  // A list of non-empty strings; each element is checked by `valid` when given.
  std::optional<std::vector<std::string>> string_list(const Entry& e, std::string_view what,
                                                      bool (*valid)(std::string_view) = nullptr,
                                                      std::string_view expected = "") {
    if (!e.second.IsSequence()) {
      value_error(e, std::string(what) + " must be a list of strings, got " + describe(e.second));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (const auto& item : e.second) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        error(item.Mark(), std::string(what) + " must be a list of strings, got " + describe(item) +
                               " as an element");
        ok = false;
      } else if (valid && !valid(item.Scalar())) {
        error(item.Mark(), "invalid " + std::string(what) + " entry \"" + item.Scalar() +
                               "\", expected " + std::string(expected));
        ok = false;
      } else {
        out.push_back(item.Scalar());
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::vector<NodeLabel>> node_labels(const Entry& e) {
    if (!e.second.IsMap()) {
      value_error(e, "nodeLabels must be a mapping of label key to a list of values, got " +
                         describe(e.second));
      return std::nullopt;
    }
    std::vector<NodeLabel> out;
    std::set<std::string> keys;
    bool ok = true;
    for (auto it = e.second.begin(); it != e.second.end(); ++it) {
      if (!it->first.IsScalar() || it->first.Scalar().empty()) {
        error(it->first.Mark(), "nodeLabels keys must be label names");
        ok = false;
        continue;
      }
      const std::string& key = it->first.Scalar();
      if (!keys.insert(key).second) {
        error(it->first.Mark(), "duplicate node label \"" + key + "\" in nodeLabels");
        ok = false;
        continue;
      }
      auto values = string_list(Entry{it->first, it->second}, "nodeLabels." + key);
      if (!values) {
        ok = false;
        continue;
      }
      for (auto& v : *values) out.push_back(NodeLabel{key, std::move(v)});
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void read_models(const Entry& e) {
    if (!e.second.IsSequence()) {
      value_error(e, "models must be a list of models, got " + describe(e.second));
      return;
    }
    std::map<std::string, int> seen;  // id -> line, within this node
    for (const auto& item : e.second) read_model(item, seen);
  }

  void read_model(const YAML::Node& item, std::map<std::string, int>& seen) {
    if (!item.IsMap()) {
      error(item.Mark(),
            "a model must be a mapping with " + join_words(kModelKeys) + ", got " + describe(item));
      return;
    }
    std::map<std::string, Entry> f;
    collect(item, "model", kModelKeys, f);
    auto id_it = f.find("id");
    if (id_it == f.end()) {
      error(item.Mark(), "model has no \"id\"");
      return;
    }
    auto id = string(id_it->second, "id");
    if (!id) return;
    if (!valid_model_id(*id)) {
      value_error(id_it->second, "invalid model id \"" + *id +
                                     "\", expected lower-case letters, digits, '-', '.' or '_'");
      return;
    }
    const int line = id_it->second.first.Mark().line + 1;
    if (auto [it, fresh] = seen.emplace(*id, line); !fresh) {
      value_error(id_it->second, "duplicate model id \"" + *id + "\" (first at line " +
                                     std::to_string(it->second) + ")");
      return;
    }

    auto existing = std::find_if(into_.models.begin(), into_.models.end(),
                                 [&](const AcceleratorModel& m) { return m.id == *id; });
    const bool is_new = existing == into_.models.end();
    if (is_new) {
      for (std::string_view required : {"vendor", "name", "denseTops", "bitLength"}) {
        if (!f.count(std::string(required))) {
          error(item.Mark(), "model \"" + *id + "\" has no \"" + std::string(required) +
                                 "\" (required for a new model; existing ids can be overridden "
                                 "field by field)");
        }
      }
    }
    AcceleratorModel m = is_new ? AcceleratorModel{} : *existing;
    m.id = *id;
    bool ok = true;
    auto set = [&](const char* key, auto&& apply) {
      if (auto it = f.find(key); it != f.end()) ok = apply(it->second) && ok;
    };
    set("vendor", [&](const Entry& v) { return assign(m.vendor, string(v, "vendor")); });
    set("name", [&](const Entry& v) { return assign(m.display_name, string(v, "name")); });
    set("source", [&](const Entry& v) { return assign(m.source, string(v, "source")); });
    set("denseTops", [&](const Entry& v) {
      auto n = number(v, "denseTops");
      if (n && *n <= 0) {
        value_error(v, "denseTops must be greater than 0 (dense TOPS/TFLOPS at bitLength)");
        return false;
      }
      return assign(m.dense_tops, n);
    });
    set("bitLength", [&](const Entry& v) {
      auto n = number(v, "bitLength");
      if (n && (*n < 1 || *n > 256 || std::floor(*n) != *n)) {
        value_error(v, "bitLength must be a whole number of bits between 1 and 256, got " +
                           describe(v.second));
        return false;
      }
      if (n) m.bit_length = static_cast<int>(*n);
      return n.has_value();
    });
    set("dieAreaMm2", [&](const Entry& v) {
      auto n = number(v, "dieAreaMm2");
      if (n && *n < 0) {
        value_error(v, "dieAreaMm2 must be 0 (unknown) or more, got " + describe(v.second));
        return false;
      }
      return assign(m.die_area_mm2, n);
    });
    set("datacenter",
        [&](const Entry& v) { return assign(m.datacenter, boolean(v, "datacenter")); });
    set("dieAreaUpperBound", [&](const Entry& v) {
      return assign(m.die_area_upper_bound, boolean(v, "dieAreaUpperBound"));
    });
    for (const char* key : {"dramBandwidthGBs", "interconnectBandwidthGBs"}) {
      double& target = key[0] == 'd' ? m.dram_bandwidth_gbs : m.interconnect_bandwidth_gbs;
      set(key, [&](const Entry& v) {
        auto n = number(v, key);
        if (n && *n < 0) {
          value_error(
              v, std::string(key) + " must be 0 (unknown) or more GB/s, got " + describe(v.second));
          return false;
        }
        return assign(target, n);
      });
    }
    set("statedClass", [&](const Entry& v) {
      auto text = string(v, "statedClass");
      if (!text) return false;
      auto c = parse_export_class(*text);
      if (!c) {
        value_error(v, "statedClass must be 3A090.a, 3A090.b or \"not controlled\", got " +
                           describe(v.second));
        return false;
      }
      m.stated_class = c;
      return true;
    });
    set("resources", [&](const Entry& v) {
      return assign(m.resources,
                    string_list(v, "resources", valid_resource_name,
                                "a domain-qualified resource name like nvidia.com/gpu"));
    });
    set("nodeLabels", [&](const Entry& v) { return assign(m.node_labels, node_labels(v)); });
    // Kept even when a field was wrong, so partitions naming it do not report cascading errors;
    // the merge has failed anyway.
    (void)ok;
    if (is_new) {
      into_.models.push_back(std::move(m));
    } else {
      *existing = std::move(m);
    }
  }

  template <class T, class U>
  static bool assign(T& target, std::optional<U> value) {
    if (!value) return false;
    target = std::move(*value);
    return true;
  }

  void read_partitions(const Entry& e) {
    if (!e.second.IsSequence()) {
      value_error(e, "partitions must be a list, got " + describe(e.second));
      return;
    }
    std::map<std::string, int> seen;
    for (const auto& item : e.second) read_partition(item, seen);
  }

  void read_partition(const YAML::Node& item, std::map<std::string, int>& seen) {
    if (!item.IsMap()) {
      error(item.Mark(), "a partition must be a mapping with " + join_words(kPartitionKeys) +
                             ", got " + describe(item));
      return;
    }
    std::map<std::string, Entry> f;
    bool ok = collect(item, "partition", kPartitionKeys, f);
    bool complete = true;
    for (std::string_view required : kPartitionKeys) {
      if (!f.count(std::string(required))) {
        error(item.Mark(), "partition has no \"" + std::string(required) + "\"");
        complete = false;
      }
    }
    if (!complete) return;
    PartitionProfile p;
    const Entry& res = f["resource"];
    auto resource = string(res, "resource");
    if (resource && !valid_resource_name(*resource)) {
      value_error(res, "invalid partition resource \"" + *resource +
                           "\", expected a domain-qualified name like nvidia.com/mig-1g.10gb");
      resource.reset();
    }
    if (resource) {
      if (auto [it, fresh] = seen.emplace(*resource, res.first.Mark().line + 1); !fresh) {
        value_error(res, "duplicate partition \"" + *resource + "\" (first at line " +
                             std::to_string(it->second) + ")");
        resource.reset();
      }
    }
    auto parents = string_list(f["parents"], "parents");
    if (parents && parents->empty()) {
      value_error(f["parents"], "parents must name at least one model id");
      parents.reset();
    }
    if (parents) {
      size_t i = 0;
      for (const auto& parent : f["parents"].second) {
        const std::string& id = (*parents)[i++];
        if (!into_.find_model(id)) {
          error(parent.Mark(), "unknown model \"" + id + "\" in parents" + known_ids_hint(id));
          ok = false;
        }
      }
    }
    auto fraction = read_fraction(f["fraction"]);
    if (!ok || !resource || !parents || !fraction) return;
    p.resource = *resource;
    p.parent_models = std::move(*parents);
    p.fraction = *fraction;
    auto existing =
        std::find_if(into_.partitions.begin(), into_.partitions.end(),
                     [&](const PartitionProfile& q) { return q.resource == p.resource; });
    if (existing == into_.partitions.end()) {
      into_.partitions.push_back(std::move(p));
    } else {
      *existing = std::move(p);
    }
  }

  std::string known_ids_hint(std::string_view id) const {
    std::vector<std::string_view> ids;
    for (const auto& m : into_.models) ids.push_back(m.id);
    const std::string_view best = nearest(id, ids, 3, false);
    if (!best.empty()) return " (did you mean \"" + std::string(best) + "\"?)";
    return ", expected the id of a model in the catalog";
  }

  // A number in (0, 1] or a ratio "n/d".
  std::optional<double> read_fraction(const Entry& e) {
    static constexpr std::string_view kExpected =
        "fraction must be a number greater than 0 and at most 1, or a ratio like \"1/7\", got ";
    if (!e.second.IsScalar() || e.second.IsNull()) {
      value_error(e, std::string(kExpected) + describe(e.second));
      return std::nullopt;
    }
    const std::string& s = e.second.Scalar();
    std::optional<double> v;
    if (s.find('/') != std::string::npos) {
      v = parse_ratio(s);
    } else if (is_plain_scalar(e.second)) {
      double d = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(d) && d > 0 && d <= 1) {
        v = d;
      }
    }
    if (!v) value_error(e, std::string(kExpected) + describe(e.second));
    return v;
  }

  void read_prefixes(const Entry& e) {
    auto prefixes = string_list(
        e, "acceleratorResourcePrefixes",
        [](std::string_view p) {
          const auto slash = p.find('/');
          return slash != std::string_view::npos && slash > 0 &&
                 p.find_first_of(" \t") == std::string_view::npos;
        },
        "a resource name prefix with a domain, like nvidia.com/mig-");
    if (!prefixes) return;
    for (auto& p : *prefixes) {
      auto& list = into_.accelerator_resource_prefixes;
      if (std::find(list.begin(), list.end(), p) == list.end()) list.push_back(std::move(p));
    }
  }

  std::string filename_;
  Catalog& into_;
  std::vector<Diagnostic>& errors_;
};

}  // namespace

void merge_catalog_yaml(const YAML::Node& node, std::string_view filename, Catalog& into,
                        std::vector<Diagnostic>& errors) {
  const size_t before = errors.size();
  CatalogReader(filename, into, errors).read(node);
  if (errors.size() != before) return;
  try {
    into.finalize();
  } catch (const PolicyError& e) {
    // Cross-entry problems found by finalize (e.g. a resource that is both whole and partition).
    for (auto d : e.diagnostics()) {
      if (d.file.empty()) d.file = std::string(filename);
      if (d.line == 0 && node.IsDefined()) {
        d.line = node.Mark().line + 1;
        d.column = node.Mark().column + 1;
      }
      errors.push_back(std::move(d));
    }
  }
}

Catalog parse_catalog_yaml(std::string_view text, std::string_view filename) {
  std::vector<Diagnostic> errors;
  Catalog catalog;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    Diagnostic d{std::string(filename), e.mark.line + 1, e.mark.column + 1, e.msg};
    throw PolicyError({d});
  }
  merge_catalog_yaml(root, filename, catalog, errors);
  if (!errors.empty()) throw PolicyError(std::move(errors));
  return catalog;
}

}  // namespace exportgate::policy
