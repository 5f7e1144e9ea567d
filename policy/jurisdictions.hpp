// ISO 3166-1 alpha-2 codes known to exportgate, with English short names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exportgate::policy {

struct Jurisdiction {
  std::string_view code;  // "SG"
  std::string_view name;  // "Singapore"
};

// All officially assigned ISO 3166-1 alpha-2 codes (249), sorted by code.
const std::vector<Jurisdiction>& all_jurisdictions();

// Looks up a code case-insensitively; nullopt when it is not an assigned code.
std::optional<Jurisdiction> find_jurisdiction(std::string_view code);

// Upper-cases and trims; returns "" when the input is not two ASCII letters.
std::string normalize_jurisdiction_code(std::string_view code);

}  // namespace exportgate::policy
