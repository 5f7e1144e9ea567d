// Manifest text -> Kubernetes objects: multi-document YAML (scalars typed as Kubernetes does),
// JSON, Lists and AdmissionReviews, with file:line:column in every error.
#include "policy/manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>

#include "policy/errors.hpp"
#include "policy/json_limits.hpp"
#include "policy/json_member.hpp"
#include "policy/policy_yaml_reader.hpp"

namespace exportgate::policy {

namespace {

using json = nlohmann::json;

// Aliases are expanded on conversion; this bounds "billion laughs" documents.
constexpr size_t kMaxNodes = 2'000'000;

std::string position(std::string_view filename, int line, int column) {
  std::string out(filename.empty() ? "<input>" : filename);
  out += ':' + std::to_string(line);
  if (column > 0) out += ':' + std::to_string(column);
  return out;
}

std::string position(std::string_view filename, const YAML::Mark& mark) {
  return position(filename, mark.line + 1, mark.column + 1);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// An integer of the YAML 1.2 core schema (decimal, 0x hex, 0o octal); nullopt if not one.
std::optional<json> as_integer(std::string_view s) {
  int base = 10;
  bool negative = false;
  std::string_view digits = s;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits = s.substr(2);
    if (digits.empty()) return std::nullopt;
  } else if (!all_digits(digits)) {
    return std::nullopt;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (end != digits.data() + digits.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Beyond 64 bits: a float, as Kubernetes' JSON decoding would make it.
    double d = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), d);
    return json(negative ? -d : d);
  }
  if (ec != std::errc()) return std::nullopt;
  if (!negative) {
    if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return json(static_cast<int64_t>(value));
    }
    return json(value);
  }
  if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
    return json(static_cast<int64_t>(0 - value));
  }
  return json(-static_cast<double>(value));
}

// A float of the YAML 1.2 core schema: [-+]? (.digits | digits(.digits?)?) ([eE][-+]?digits)?
std::optional<json> as_float(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!all_digits(s.substr(i))) return std::nullopt;
    i = s.size();
  }
  if (i != s.size()) return std::nullopt;
  double d = 0;
  const char* first = s.data() + (s[0] == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(first, s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return json(d);
}

// Types an unquoted scalar like Kubernetes' YAML decoding: null, booleans, integers, floats;
// everything else is a string.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (auto i = as_integer(s)) return *i;
  if (auto f = as_float(s)) return *f;
  return s;
}

class Converter {
 public:
  explicit Converter(std::string_view filename) : filename_(filename) {}

  json convert(const YAML::Node& node, int depth = 0) {
    // Same bound as for JSON: aliases can nest a document deeper than its text shows.
    if (depth >= kMaxJsonDepth) {
      throw ManifestError(position(filename_, node.Mark()) + ": " + JsonTooDeep().what());
    }
    if (++nodes_ > kMaxNodes) {
      throw ManifestError(
          position(filename_, node.Mark()) +
          ": document too large (more than 2,000,000 nodes after expanding aliases)");
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return scalar(node);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const auto& item : node) out.push_back(convert(item, depth + 1));
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          if (!it->first.IsScalar()) {
            throw ManifestError(position(filename_, it->first.Mark()) +
                                ": mapping keys must be strings");
          }
          out[it->first.Scalar()] = convert(it->second, depth + 1);
        }
        return out;
      }
    }
    return nullptr;
  }

 private:
  json scalar(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    const std::string& s = node.Scalar();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return s;  // quoted or !!str
    if (tag == "tag:yaml.org,2002:int") {
      if (auto i = as_integer(s)) return *i;
      throw ManifestError(position(filename_, node.Mark()) + ": \"" + s + "\" is not an !!int");
    }
    if (tag == "tag:yaml.org,2002:float") {
      if (auto i = as_integer(s)) return json(i->get<double>());
      if (auto f = as_float(s)) return *f;
      throw ManifestError(position(filename_, node.Mark()) + ": \"" + s + "\" is not a !!float");
    }
    if (tag == "tag:yaml.org,2002:bool") {
      json b = resolve_plain(s);
      if (b.is_boolean()) return b;
      throw ManifestError(position(filename_, node.Mark()) + ": \"" + s + "\" is not a !!bool");
    }
    return resolve_plain(s);
  }

  std::string_view filename_;
  size_t nodes_ = 0;
};

std::vector<YAML::Node> load_yaml(std::string_view text, std::string_view filename) {
  try {
    // yaml-cpp 0.7's LoadAll loops forever, allocating without bound, on some malformed input
    // (e.g. "#\n,"); the bounded event-level pass rejects it first (found by fuzz_manifest).
    yaml_document_starts(text);
    return YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    throw ManifestError(position(filename, e.mark) + ": invalid YAML: " + e.msg);
  }
}

json load_json(std::string_view text, std::string_view filename) {
  try {
    return parse_json_bounded(text);
  } catch (const JsonTooDeep& e) {
    throw ManifestError(std::string(filename) + ": " + e.what());
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based offset of the offending character: turn it into line:column.
    int line = 1, column = 1;
    const size_t end = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 2: ".
    if (auto pos = what.find("column "); pos != std::string::npos) {
      if (auto colon = what.find(": ", pos); colon != std::string::npos) what.erase(0, colon + 2);
    }
    throw ManifestError(position(filename, line, column) + ": invalid JSON: " + what);
  } catch (const json::exception& e) {
    // e.g. out_of_range.406, a number beyond double ("1e808"), which has no position.
    throw ManifestError(std::string(filename) + ": invalid JSON: " + e.what());
  }
}

bool is_json(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

std::string string_member(const json& obj, const char* key) {
  const json* v = json_member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

// Where a document or list item starts, for messages: "file:line[:col]".
struct Where {
  std::string origin;    // "file:12"
  std::string position;  // "file:12:1"
};

void add_object(json&& obj, const Where& where, std::vector<ManifestObject>& out,
                const std::function<Where(size_t)>& item_where, bool nested = false) {
  if (!obj.is_object()) {
    throw ManifestError(where.position + ": expected a Kubernetes object (a mapping), got " +
                        obj.type_name());
  }
  const json* api_version = json_member(obj, "apiVersion");
  const json* kind = json_member(obj, "kind");
  if (!api_version || !api_version->is_string() ||
      api_version->get_ref<const std::string&>().empty()) {
    throw ManifestError(where.position + ": not a Kubernetes object: missing apiVersion");
  }
  if (!kind || !kind->is_string() || kind->get_ref<const std::string&>().empty()) {
    throw ManifestError(where.position + ": not a Kubernetes object: missing kind");
  }
  const std::string& k = kind->get_ref<const std::string&>();
  if (k == "AdmissionReview") {
    const json* request = json_member(obj, "request");
    if (!request || !request->is_object()) {
      throw ManifestError(where.position + ": AdmissionReview without a request");
    }
    const json* object = json_member(*request, "object");
    if (!object || !object->is_object()) {
      throw ManifestError(where.position + ": AdmissionReview request has no object (operation " +
                          string_member(*request, "operation") + ")");
    }
    ManifestObject m;
    m.object = *object;
    m.origin = where.origin;
    m.operation = string_member(*request, "operation");
    m.request_namespace = string_member(*request, "namespace");
    m.sub_resource = string_member(*request, "subResource");
    out.push_back(std::move(m));
    return;
  }
  if (!nested && k.size() >= 4 && k.compare(k.size() - 4, 4, "List") == 0 &&
      obj.contains("items")) {
    json& items = obj["items"];
    if (items.is_null()) return;
    if (!items.is_array())
      throw ManifestError(where.position + ": " + k + ".items: expected an array");
    for (size_t i = 0; i < items.size(); ++i) {
      add_object(std::move(items[i]), item_where(i), out, item_where, true);
    }
    return;
  }
  out.push_back(ManifestObject{std::move(obj), where.origin, {}, {}, {}});
}

std::string origin_of(std::string_view filename, int line) {
  return std::string(filename.empty() ? "<input>" : filename) + ":" + std::to_string(line);
}

}  // namespace

std::vector<ManifestObject> parse_manifests(std::string_view text, std::string_view filename) {
  std::vector<ManifestObject> out;
  if (is_json(text)) {
    json doc = load_json(text, filename);
    const size_t first = text.find_first_not_of(" \t\r\n");
    int line = 1;
    for (size_t i = 0; i < first; ++i) line += text[i] == '\n' ? 1 : 0;
    const Where where{origin_of(filename, line), position(filename, line, 0)};
    auto item_where = [&](size_t i) {
      const std::string suffix = " items[" + std::to_string(i) + "]";
      return Where{where.origin + suffix, where.position + suffix};
    };
    if (doc.is_array()) {
      // A bare JSON array of objects: treat it like a List.
      for (size_t i = 0; i < doc.size(); ++i)
        add_object(std::move(doc[i]), item_where(i), out, item_where);
    } else {
      add_object(std::move(doc), where, out, item_where);
    }
    return out;
  }
  Converter converter(filename);
  for (const YAML::Node& doc : load_yaml(text, filename)) {
    if (!doc.IsDefined() || doc.IsNull()) continue;  // "---" with nothing after it
    const Where where{origin_of(filename, doc.Mark().line + 1), position(filename, doc.Mark())};
    auto item_where = [&](size_t i) {
      const YAML::Node item = doc["items"][i];
      const YAML::Mark m = item.Mark();
      return Where{origin_of(filename, m.line + 1), position(filename, m)};
    };
    if (!doc.IsMap()) {
      throw ManifestError(where.position + ": expected a Kubernetes object (a mapping)");
    }
    add_object(converter.convert(doc), where, out, item_where);
  }
  return out;
}

json yaml_text_to_json(std::string_view yaml_text, std::string_view filename) {
  Converter converter(filename);
  json result;
  bool seen = false;
  for (const YAML::Node& doc : load_yaml(yaml_text, filename)) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    if (seen) {
      throw ManifestError(position(filename, doc.Mark()) +
                          ": expected one YAML document, found more");
    }
    result = converter.convert(doc);
    seen = true;
  }
  return result;
}

}  // namespace exportgate::policy
