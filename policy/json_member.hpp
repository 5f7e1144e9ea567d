// Reading Kubernetes objects: the one rule for "is this field set".
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace exportgate::policy {

// The member `key` of `obj` when present and not null, else nullptr. The API server drops null
// fields, so absent and null mean the same; a value that is not an object has no members.
inline const nlohmann::json* json_member(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace exportgate::policy
