// AdmissionReview fast path for Pod requests (see admission_skim.hpp). One pass over the text:
// the values admission reads are parsed with nlohmann, the rest only skimmed.
#include "webhook/admission_skim.hpp"

#include "webhook/json_skim.hpp"

namespace exportgate::webhook {

namespace {

using nlohmann::json;

// Parses the value at `p` into `into`; returns its end, or nullptr.
const char* take(const char* p, const char* end, json& into) {
  return skim::build_value(p, end, into);
}

struct PodWalk {
  const char* end;

  // Keeps the elements of the array at `p` that `keep` accepts, with null in place of the others
  // so indices in messages stay those of the whole object (all of it when it is not an array);
  // adds `key` to `parent` only when one is kept, so a pod without them stays small.
  template <class Keep>
  const char* filtered(const char* p, json& parent, std::string_view key, Keep&& keep) {
    if (*p != '[') return take(p, end, parent[std::string(key)]);
    json kept = json::array();
    bool any = false;
    const char* after = skim::walk_array(p, end, [&](const char* v) {
      json element;
      const char* next = take(v, end, element);
      if (next && keep(element)) {
        any = true;
        kept.push_back(std::move(element));
      } else {
        kept.push_back(nullptr);
      }
      return next;
    });
    if (any) parent[std::string(key)] = std::move(kept);
    return after;
  }

  // A container keeps what the engine reads: name, resources, restartPolicy, and for device
  // access outside requests securityContext and the NVIDIA_VISIBLE_DEVICES entries of env.
  // Elements that are not objects are kept as they are, so the engine reports them exactly as
  // it would.
  const char* container(const char* p, json& out) {
    if (*p != '{') return take(p, end, out);
    out = json::object();
    return skim::walk_object(p, end, [&](std::string_view k, const char* v) {
      if (k == "name" || k == "resources" || k == "restartPolicy" || k == "securityContext") {
        return take(v, end, out[std::string(k)]);
      }
      if (k == "env") {
        return filtered(v, out, k, [](const json& e) {
          auto name = e.is_object() ? e.find("name") : e.end();
          return !e.is_object() || (name != e.end() && *name == "NVIDIA_VISIBLE_DEVICES");
        });
      }
      return skim::skip_value(v, end);
    });
  }

  const char* containers(const char* p, json& out) {
    if (*p != '[') return take(p, end, out);
    out = json::array();
    return skim::walk_array(p, end, [&](const char* v) {
      out.push_back(json());
      return container(v, out.back());
    });
  }

  const char* spec(const char* p, json& out) {
    if (*p != '{') return take(p, end, out);
    out = json::object();
    return skim::walk_object(p, end, [&](std::string_view k, const char* v) {
      if (k == "containers" || k == "initContainers" || k == "ephemeralContainers") {
        return containers(v, out[std::string(k)]);
      }
      if (k == "resources" || k == "overhead" || k == "nodeSelector" || k == "affinity") {
        return take(v, end, out[std::string(k)]);
      }
      if (k == "volumes") {  // hostPath volumes only: device access
        return filtered(v, out, k, [](const json& vol) {
          return !vol.is_object() || vol.contains("hostPath");
        });
      }
      return skim::skip_value(v, end);
    });
  }

  const char* metadata(const char* p, json& out) {
    if (*p != '{') return take(p, end, out);
    out = json::object();
    return skim::walk_object(p, end, [&](std::string_view k, const char* v) {
      if (k == "managedFields") return skim::skip_value(v, end);
      return take(v, end, out[std::string(k)]);
    });
  }

  const char* object(const char* p, json& out) {
    if (*p != '{') return nullptr;
    out = json::object();
    return skim::walk_object(p, end, [&](std::string_view k, const char* v) -> const char* {
      if (k == "apiVersion" || k == "kind") return take(v, end, out[std::string(k)]);
      if (k == "metadata") return metadata(v, out["metadata"]);
      if (k == "spec") return spec(v, out["spec"]);
      return skim::skip_value(v, end);
    });
  }
};

bool is_plain_pod(const json& object) {
  auto kind = object.find("kind");
  auto api_version = object.find("apiVersion");
  return kind != object.end() && *kind == "Pod" && api_version != object.end() &&
         *api_version == "v1";
}

}  // namespace

std::optional<json> skim_pod_review(std::string_view body) {
  const char* const end = body.data() + body.size();
  PodWalk pod{end};
  bool has_object = false, fast = true;
  json doc = json::object();
  try {
    const char* after = skim::walk_object(
        skim::skip_ws(body.data(), end), end, [&](std::string_view k, const char* v) {
          if (k != "request") return take(v, end, doc[std::string(k)]);
          json& r = doc["request"];
          r = json::object();
          return skim::walk_object(v, end, [&](std::string_view rk, const char* rv) {
            if (rk == "object") {
              has_object = true;
              return pod.object(rv, r["object"]);
            }
            // An old object (UPDATE, DELETE) is read differently: those take the full parse.
            if (rk == "oldObject" && *rv != 'n') fast = false;
            return take(rv, end, r[std::string(rk)]);
          });
        });
    if (!after || skim::skip_ws(after, end) != end) return std::nullopt;
  } catch (const json::exception&) {
    return std::nullopt;  // the full parse reports it
  }
  if (!fast || !has_object) return std::nullopt;
  const auto& object = doc["request"]["object"];
  if (!object.is_object() || !is_plain_pod(object)) return std::nullopt;
  return doc;
}

}  // namespace exportgate::webhook
