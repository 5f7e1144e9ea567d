// AdmissionReview v1 codec (see admission_codec.hpp).
#include "webhook/admission_codec.hpp"

#include <openssl/evp.h>

#include <optional>

#include "policy/json_limits.hpp"
#include "webhook/admission_skim.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw AdmissionDecodeError(message);
}

std::string describe_type(const json& j) {
  return j.type_name();
}

// Optional string member: "" when absent or null; an error when present with another type.
std::string opt_string(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) fail(where + "." + key + " must be a string, not " + describe_type(*it));
  return it->get<std::string>();
}

}  // namespace

AdmissionRequest decode_admission_review(std::string_view body) {
  json doc;
  if (auto skimmed = skim_pod_review(body)) {
    // Most requests: a Pod, parsed only where admission reads it.
    doc = std::move(*skimmed);
  } else {
    try {
      doc = policy::parse_json_bounded(body);
    } catch (const policy::JsonTooDeep& e) {
      fail(std::string("request body is refused: ") + e.what());
    } catch (const json::parse_error& e) {
      fail(std::string("request body is not valid JSON: ") + e.what());
    } catch (const json::exception& e) {
      // e.g. out_of_range.406 for a number beyond double ("1e808"): still the client's fault,
      // a 400 and not a 500 (found by tests/fuzz/fuzz_admission_review).
      fail(std::string("request body is not valid JSON: ") + e.what());
    }
  }
  if (!doc.is_object()) fail("request body must be a JSON object (an AdmissionReview)");
  std::string api_version = opt_string(doc, "apiVersion", "AdmissionReview");
  std::string kind = opt_string(doc, "kind", "AdmissionReview");
  if (api_version != kAdmissionApiVersion) {
    fail("unsupported apiVersion \"" + api_version + "\": exportgate serves " +
         std::string(kAdmissionApiVersion) + " (set admissionReviewVersions: [\"v1\"])");
  }
  if (kind != "AdmissionReview") fail("kind must be AdmissionReview, not \"" + kind + "\"");
  auto req_it = doc.find("request");
  if (req_it == doc.end() || req_it->is_null()) fail("AdmissionReview has no request");
  if (!req_it->is_object()) fail("request must be an object, not " + describe_type(*req_it));
  json& r = *req_it;

  AdmissionRequest out;
  out.uid = opt_string(r, "uid", "request");
  if (out.uid.empty()) fail("request.uid is missing or empty");
  out.operation = opt_string(r, "operation", "request");
  if (out.operation != "CREATE" && out.operation != "UPDATE" && out.operation != "DELETE" &&
      out.operation != "CONNECT") {
    fail("request.operation must be CREATE, UPDATE, DELETE or CONNECT, not \"" + out.operation +
         "\"");
  }
  auto kind_it = r.find("kind");
  if (kind_it == r.end() || !kind_it->is_object()) fail("request.kind is missing");
  out.kind.group = opt_string(*kind_it, "group", "request.kind");
  out.kind.version = opt_string(*kind_it, "version", "request.kind");
  out.kind.kind = opt_string(*kind_it, "kind", "request.kind");
  if (out.kind.kind.empty()) fail("request.kind.kind is missing");
  if (auto res = r.find("resource"); res != r.end() && res->is_object()) {
    out.resource = opt_string(*res, "resource", "request.resource");
  }
  out.sub_resource = opt_string(r, "subResource", "request");
  out.name = opt_string(r, "name", "request");
  out.namespace_ = opt_string(r, "namespace", "request");
  if (auto ui = r.find("userInfo"); ui != r.end() && !ui->is_null()) {
    if (!ui->is_object()) fail("request.userInfo must be an object");
    out.username = opt_string(*ui, "username", "request.userInfo");
    if (auto g = ui->find("groups"); g != ui->end() && !g->is_null()) {
      if (!g->is_array()) fail("request.userInfo.groups must be an array");
      for (const auto& v : *g) {
        if (!v.is_string()) fail("request.userInfo.groups must hold strings");
        out.groups.push_back(v.get<std::string>());
      }
    }
  }
  if (auto d = r.find("dryRun"); d != r.end() && !d->is_null()) {
    if (!d->is_boolean()) fail("request.dryRun must be a boolean");
    out.dry_run = d->get<bool>();
  }
  auto take_object = [&](const char* key, json& dst) {
    auto it = r.find(key);
    if (it == r.end() || it->is_null()) return;
    if (!it->is_object()) fail(std::string("request.") + key + " must be an object");
    dst = std::move(*it);
  };
  take_object("object", out.object);
  take_object("oldObject", out.old_object);
  if ((out.operation == "CREATE" || out.operation == "UPDATE") && out.object.is_null()) {
    fail("request.object is missing for " + out.operation);
  }
  return out;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

namespace {

// Text that goes into a JSON string as it is: printable ASCII without '"' and '\\'.
bool plain(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  out += s;
  out += '"';
}

// The response written directly, for responses whose strings are all plain (nearly all: uids,
// policy hashes, tenant names, messages): building and dumping the nlohmann document cost about
// 20,000 instructions per request, more than evaluating the policy. The text is the one
// nlohmann's dump gives (members in key order, no spaces); anything else takes that dump.
std::optional<std::string> encode_plain(const AdmissionResponse& r, const std::string& patch) {
  if (!plain(r.uid) || !plain(r.status_reason) || !plain(r.status_message)) return std::nullopt;
  for (const auto& w : r.warnings) {
    if (!plain(w)) return std::nullopt;
  }
  for (const auto& [k, v] : r.audit_annotations) {
    if (!plain(k) || !plain(v)) return std::nullopt;
  }
  std::string out;
  out.reserve(160 + r.uid.size() + r.status_message.size() + patch.size() +
              64 * (r.warnings.size() + r.audit_annotations.size()));
  out += R"({"apiVersion":")";
  out += kAdmissionApiVersion;
  out += R"(","kind":"AdmissionReview","response":{"allowed":)";
  out += r.allowed ? "true" : "false";
  if (!r.audit_annotations.empty()) {
    out += R"(,"auditAnnotations":{)";
    bool first = true;
    for (const auto& [k, v] : r.audit_annotations) {
      if (!first) out += ',';
      first = false;
      append_string(out, k);
      out += ':';
      append_string(out, v);
    }
    out += '}';
  }
  if (!patch.empty()) {
    out += R"(,"patch":")";
    out += patch;
    out += R"(","patchType":"JSONPatch")";
  }
  if (!r.allowed || r.status_code != 0) {
    out += R"(,"status":{"code":)";
    out += std::to_string(r.status_code != 0 ? r.status_code : 403);
    out += R"(,"message":)";
    append_string(out, r.status_message);
    if (!r.status_reason.empty()) {
      out += R"(,"reason":)";
      append_string(out, r.status_reason);
    }
    if (!r.allowed) out += R"(,"status":"Failure")";
    out += '}';
  }
  out += R"(,"uid":)";
  append_string(out, r.uid);
  if (!r.warnings.empty()) {
    out += R"(,"warnings":[)";
    for (size_t i = 0; i < r.warnings.size(); ++i) {
      if (i) out += ',';
      append_string(out, r.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace

namespace {

// `patch`: the base64 JSON Patch, "" for none. patch and patchType travel together or not at all
// (the apiserver rejects one alone).
std::string encode_dom(const AdmissionResponse& r, const std::string& patch) {
  json response = {{"uid", r.uid}, {"allowed", r.allowed}};
  if (!r.allowed || r.status_code != 0) {
    json status = {{"code", r.status_code != 0 ? r.status_code : 403},
                   {"message", r.status_message}};
    if (!r.status_reason.empty()) status["reason"] = r.status_reason;
    if (!r.allowed) status["status"] = "Failure";
    response["status"] = std::move(status);
  }
  if (!r.warnings.empty()) response["warnings"] = r.warnings;
  if (!r.audit_annotations.empty()) response["auditAnnotations"] = r.audit_annotations;
  if (!patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = patch;
  }
  json review = {{"apiVersion", kAdmissionApiVersion},
                 {"kind", "AdmissionReview"},
                 {"response", std::move(response)}};
  return review.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string patch_text(const AdmissionResponse& r) {
  const bool has_patch = r.patch && r.patch->is_array() && !r.patch->empty();
  return has_patch ? base64_encode(r.patch->dump()) : std::string();
}

}  // namespace

std::string encode_admission_review_dom(const AdmissionResponse& r) {
  return encode_dom(r, patch_text(r));
}

std::string encode_admission_review(const AdmissionResponse& r) {
  const std::string patch = patch_text(r);
  if (auto text = encode_plain(r, patch)) return std::move(*text);
  return encode_dom(r, patch);
}

std::string error_body(int code, std::string_view message) {
  json status = {{"apiVersion", "v1"},
                 {"kind", "Status"},
                 {"status", "Failure"},
                 {"message", message},
                 {"code", code}};
  return status.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace exportgate::webhook
