// Standard base64 (RFC 4648, with padding) through OpenSSL.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace exportgate::webhook {

// Decodes `text` as the Kubernetes API's []byte fields are read (kubeconfig *-data): padding
// required, line breaks and spaces anywhere ignored. nullopt when it is not base64 (a character
// outside the alphabet, a length that is not a whole number of quanta, '=' before the end).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace exportgate::webhook
