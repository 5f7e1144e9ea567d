// A Kubernetes resourceVersion as a number. Versions are opaque strings by contract, but etcd's
// are increasing integers; code that orders them (the ledger cache, the reconciler's
// countedThrough) uses this and treats nullopt as "cannot be ordered".
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace exportgate::webhook {

inline std::optional<std::uint64_t> parse_resource_version(std::string_view text) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

}  // namespace exportgate::webhook
