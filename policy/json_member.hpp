// Reading Kubernetes objects: the one rule for "is this field set".
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace exportgate::policy {

// The member `key` of `obj` when present and not null, else nullptr. The API server drops null
// fields, so absent and null mean the same; a value that is not an object has no members.
inline const nlohmann::json* json_member(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// json_member as a reference, a null value when there is none, so lookups chain:
// json_member_or_null(json_member_or_null(o, "status"), "conditions").
inline const nlohmann::json& json_member_or_null(const nlohmann::json& obj, std::string_view key) {
  static const nlohmann::json null;
  const nlohmann::json* v = json_member(obj, key);
  return v ? *v : null;
}

// The string member `key` of `obj`; "" when absent or not a string (for fields that are
// informational, or whose absence the caller handles as "").
inline std::string json_string(const nlohmann::json& obj, std::string_view key) {
  const nlohmann::json* v = json_member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace exportgate::policy
