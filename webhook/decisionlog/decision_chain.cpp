// Hashing and naming for the decision log chain (see decision_chain.hpp).
#include "webhook/decision_chain.hpp"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace exportgate::webhook::decision_chain {

std::string archive_path(const std::string& path, unsigned index) {
  std::array<char, 16> suffix{};
  std::snprintf(suffix.data(), suffix.size(), ".%06u", index);
  return path + suffix.data();
}

std::string base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace exportgate::webhook::decision_chain
