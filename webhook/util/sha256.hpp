// SHA-256 as lowercase hex: the decision log chain and the audit finding ids.
#pragma once

#include <string>
#include <string_view>

namespace exportgate::webhook {

// Lowercase hex SHA-256 of `bytes` (64 characters).
std::string sha256_hex(std::string_view bytes);

}  // namespace exportgate::webhook
