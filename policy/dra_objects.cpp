// Decoding of resource.k8s.io/v1 objects. Strict about types (a tenant's malformed claim is an
// error, not "no devices"), lenient about fields the charge does not need.
#include "policy/dra_objects.hpp"

#include <cmath>
#include <limits>

#include "policy/errors.hpp"
#include "policy/json_member.hpp"

namespace exportgate::policy {

namespace {

using json = nlohmann::json;

std::string join(std::string_view path, std::string_view key) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string indexed(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

const json* object_member(const json& obj, std::string_view key, std::string_view path) {
  const json* v = json_member(obj, key);
  if (v && !v->is_object()) {
    throw ManifestError(join(path, key) + ": expected an object, got " + v->type_name());
  }
  return v;
}

const json* array_member(const json& obj, std::string_view key, std::string_view path) {
  const json* v = json_member(obj, key);
  if (v && !v->is_array()) {
    throw ManifestError(join(path, key) + ": expected an array, got " + v->type_name());
  }
  return v;
}

std::string string_member(const json& obj, std::string_view key, std::string_view path) {
  const json* v = json_member(obj, key);
  if (!v) return {};
  if (!v->is_string()) {
    throw ManifestError(join(path, key) + ": expected a string, got " + v->type_name());
  }
  return v->get<std::string>();
}

bool bool_member(const json& obj, std::string_view key, std::string_view path) {
  const json* v = json_member(obj, key);
  if (!v) return false;
  if (!v->is_boolean()) {
    throw ManifestError(join(path, key) + ": expected a boolean, got " + v->type_name());
  }
  return v->get<bool>();
}

const json& require_object(const json& obj, std::string_view key, std::string_view path) {
  const json* v = object_member(obj, key, path);
  if (!v) throw ManifestError(join(path, key) + ": required, missing");
  return *v;
}

// A positive integer that fits int64 (the API's count is int64, minimum 1).
int64_t count_member(const json& obj, std::string_view key, std::string_view path) {
  const json* v = json_member(obj, key);
  if (!v) return 1;
  const std::string where = join(path, key);
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u == 0) throw ManifestError(where + ": must be at least 1");
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw ManifestError(where + ": " + std::to_string(u) + " is too large");
    }
    return static_cast<int64_t>(u);
  }
  if (v->is_number_integer()) {
    const auto i = v->get<int64_t>();
    if (i < 1) throw ManifestError(where + ": must be at least 1, got " + std::to_string(i));
    return i;
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!(d >= 1) || d != std::floor(d) || d >= 9.2e18) {
      throw ManifestError(where + ": expected a positive integer, got " + v->dump());
    }
    return static_cast<int64_t>(d);
  }
  throw ManifestError(where + ": expected a positive integer, got " + v->type_name());
}

void read_metadata(const json& object, std::string& name, std::string& ns) {
  if (const json* metadata = object_member(object, "metadata", "")) {
    name = string_member(*metadata, "name", "metadata");
    if (name.empty()) {
      const std::string generate = string_member(*metadata, "generateName", "metadata");
      if (!generate.empty()) name = generate + "*";
    }
    ns = string_member(*metadata, "namespace", "metadata");
  }
}

// selectors: [{cel: {expression: "..."}}]
std::vector<std::string> read_selectors(const json& obj, std::string_view path) {
  std::vector<std::string> out;
  const json* list = array_member(obj, "selectors", path);
  if (!list) return out;
  const std::string list_path = join(path, "selectors");
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string item = indexed(list_path, i);
    const json& s = (*list)[i];
    if (!s.is_object()) throw ManifestError(item + ": expected an object");
    const json* cel = object_member(s, "cel", item);
    if (!cel) {
      // A selector kind this version of exportgate does not know: it cannot narrow anything, so
      // it is kept as an expression nothing recognises (charged as the worst case).
      out.emplace_back();
      continue;
    }
    out.push_back(string_member(*cel, "expression", join(item, "cel")));
  }
  return out;
}

DraExactRequest read_exact(const json& exact, std::string name, std::string_view path) {
  if (!exact.is_object()) throw ManifestError(std::string(path) + ": expected an object");
  DraExactRequest r;
  r.name = std::move(name);
  r.device_class = string_member(exact, "deviceClassName", path);
  if (r.device_class.empty()) {
    throw ManifestError(join(path, "deviceClassName") + ": required, missing");
  }
  r.selectors = read_selectors(exact, path);
  const std::string mode = string_member(exact, "allocationMode", path);
  if (mode == "All") {
    r.all = true;
  } else if (!mode.empty() && mode != "ExactCount") {
    throw ManifestError(join(path, "allocationMode") + ": expected ExactCount or All, got \"" +
                        mode + "\"");
  }
  r.count = count_member(exact, "count", path);
  r.admin_access = bool_member(exact, "adminAccess", path);
  return r;
}

DraClaimSpec read_claim_spec(const json& spec, std::string_view path) {
  DraClaimSpec out;
  const json* devices = object_member(spec, "devices", path);
  if (!devices) return out;
  const std::string devices_path = join(path, "devices");
  const json* requests = array_member(*devices, "requests", devices_path);
  if (!requests) return out;
  const std::string requests_path = join(devices_path, "requests");
  for (size_t i = 0; i < requests->size(); ++i) {
    const std::string item = indexed(requests_path, i);
    const json& r = (*requests)[i];
    if (!r.is_object()) throw ManifestError(item + ": expected an object");
    DraRequest request;
    request.name = string_member(r, "name", item);
    const json* exactly = json_member(r, "exactly");
    const json* first = array_member(r, "firstAvailable", item);
    if ((exactly != nullptr) == (first != nullptr)) {
      throw ManifestError(item + ": exactly one of exactly and firstAvailable must be set");
    }
    if (exactly) {
      request.alternatives.push_back(read_exact(*exactly, request.name, join(item, "exactly")));
    } else {
      if (first->empty()) throw ManifestError(join(item, "firstAvailable") + ": empty");
      for (size_t j = 0; j < first->size(); ++j) {
        const std::string sub_path = indexed(join(item, "firstAvailable"), j);
        const json& sub = (*first)[j];
        if (!sub.is_object()) throw ManifestError(sub_path + ": expected an object");
        const std::string sub_name = string_member(sub, "name", sub_path);
        request.alternatives.push_back(read_exact(sub, request.name + "/" + sub_name, sub_path));
      }
    }
    out.requests.push_back(std::move(request));
  }
  return out;
}

std::string attribute_text(const json& value, std::string_view path) {
  if (!value.is_object()) throw ManifestError(std::string(path) + ": expected an object");
  for (const char* key : {"string", "version"}) {
    if (const json* v = json_member(value, key)) {
      if (!v->is_string()) throw ManifestError(join(path, key) + ": expected a string");
      return v->get<std::string>();
    }
  }
  if (const json* v = json_member(value, "int")) {
    if (!v->is_number_integer()) throw ManifestError(join(path, "int") + ": expected an integer");
    return std::to_string(v->get<int64_t>());
  }
  if (const json* v = json_member(value, "bool")) {
    if (!v->is_boolean()) throw ManifestError(join(path, "bool") + ": expected a boolean");
    return v->get<bool>() ? "true" : "false";
  }
  return {};  // list-valued or newer attribute kinds: no single value to compare
}

}  // namespace

bool is_dra_kind(const json& object, std::string_view kind) {
  const json* api_version = json_member(object, "apiVersion");
  const json* k = json_member(object, "kind");
  if (!api_version || !api_version->is_string() || !k || !k->is_string() || *k != kind) {
    return false;
  }
  const std::string& v = api_version->get_ref<const std::string&>();
  return v.size() > kDraGroup.size() && v.compare(0, kDraGroup.size(), kDraGroup) == 0 &&
         v[kDraGroup.size()] == '/';
}

DraDeviceClass decode_device_class(const json& object) {
  DraDeviceClass c;
  std::string ns;
  read_metadata(object, c.name, ns);
  const json* spec = object_member(object, "spec", "");
  if (!spec) return c;
  c.selectors = read_selectors(*spec, "spec");
  c.extended_resource_name = string_member(*spec, "extendedResourceName", "spec");
  return c;
}

DraClaim decode_resource_claim(const json& object) {
  DraClaim c;
  read_metadata(object, c.name, c.namespace_);
  if (const json* metadata = json_member(object, "metadata")) {
    if (const json* owners = array_member(*metadata, "ownerReferences", "metadata")) {
      for (size_t i = 0; i < owners->size(); ++i) {
        const json& o = (*owners)[i];
        const std::string path = indexed("metadata.ownerReferences", i);
        if (!o.is_object()) throw ManifestError(path + ": expected an object");
        if (bool_member(o, "controller", path) && string_member(o, "kind", path) == "Pod" &&
            string_member(o, "apiVersion", path) == "v1") {
          c.owner_pod = string_member(o, "name", path);
        }
      }
    }
  }
  if (const json* metadata = json_member(object, "metadata")) {
    if (const json* annotations = object_member(*metadata, "annotations", "metadata")) {
      c.admission_uid =
          string_member(*annotations, "exportgate.io/admission-uid", "metadata.annotations");
    }
  }
  c.spec = read_claim_spec(require_object(object, "spec", ""), "spec");
  const json* status = object_member(object, "status", "");
  const json* allocation = status ? object_member(*status, "allocation", "status") : nullptr;
  if (!allocation) return c;
  c.allocated = true;
  const json* devices = object_member(*allocation, "devices", "status.allocation");
  if (!devices) return c;
  const std::string path = "status.allocation.devices";
  const json* results = array_member(*devices, "results", path);
  if (!results) return c;
  for (size_t i = 0; i < results->size(); ++i) {
    const std::string item = indexed(join(path, "results"), i);
    const json& r = (*results)[i];
    if (!r.is_object()) throw ManifestError(item + ": expected an object");
    DraAllocatedDevice d;
    d.request = string_member(r, "request", item);
    d.driver = string_member(r, "driver", item);
    d.pool = string_member(r, "pool", item);
    d.device = string_member(r, "device", item);
    d.admin_access = bool_member(r, "adminAccess", item);
    c.allocation.push_back(std::move(d));
  }
  return c;
}

DraClaimTemplate decode_resource_claim_template(const json& object) {
  DraClaimTemplate t;
  read_metadata(object, t.name, t.namespace_);
  const json& spec = require_object(object, "spec", "");
  t.spec = read_claim_spec(require_object(spec, "spec", "spec"), "spec.spec");
  return t;
}

DraSlice decode_resource_slice(const json& object) {
  DraSlice s;
  std::string ns;
  read_metadata(object, s.name, ns);
  const json& spec = require_object(object, "spec", "");
  s.driver = string_member(spec, "driver", "spec");
  s.node_name = string_member(spec, "nodeName", "spec");
  if (const json* pool = object_member(spec, "pool", "spec")) {
    s.pool = string_member(*pool, "name", "spec.pool");
  }
  const json* devices = array_member(spec, "devices", "spec");
  if (!devices) return s;
  for (size_t i = 0; i < devices->size(); ++i) {
    const std::string item = indexed("spec.devices", i);
    const json& d = (*devices)[i];
    if (!d.is_object()) throw ManifestError(item + ": expected an object");
    DraDevice device;
    device.name = string_member(d, "name", item);
    if (const json* attrs = object_member(d, "attributes", item)) {
      for (auto it = attrs->begin(); it != attrs->end(); ++it) {
        const std::string path = join(item, "attributes") + "[\"" + it.key() + "\"]";
        std::string key =
            it.key().find('/') == std::string::npos ? s.driver + "/" + it.key() : it.key();
        device.attributes[std::move(key)] = attribute_text(*it, path);
      }
    }
    s.devices.push_back(std::move(device));
  }
  return s;
}

std::vector<DraPodClaim> decode_pod_claims(const json& pod_spec, std::string_view spec_path) {
  std::vector<DraPodClaim> out;
  const json* list = array_member(pod_spec, "resourceClaims", spec_path);
  if (!list) return out;
  const std::string list_path = join(spec_path, "resourceClaims");
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string item = indexed(list_path, i);
    const json& c = (*list)[i];
    if (!c.is_object()) throw ManifestError(item + ": expected an object");
    DraPodClaim claim;
    claim.name = string_member(c, "name", item);
    claim.claim_name = string_member(c, "resourceClaimName", item);
    claim.template_name = string_member(c, "resourceClaimTemplateName", item);
    if (claim.claim_name.empty() == claim.template_name.empty()) {
      throw ManifestError(item +
                          ": exactly one of resourceClaimName and resourceClaimTemplateName "
                          "must be set");
    }
    out.push_back(std::move(claim));
  }
  return out;
}

}  // namespace exportgate::policy
