// Base64 decoding through OpenSSL (see base64.hpp).
#include "webhook/base64.hpp"

#include <openssl/evp.h>

namespace exportgate::webhook {

std::optional<std::string> base64_decode(std::string_view text) {
  std::string in;
  in.reserve(text.size());
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') in.push_back(c);
  }
  if (in.size() % 4 != 0) return std::nullopt;
  // EVP_DecodeBlock reads '=' as a zero sextet wherever it stands: only the last one or two
  // characters may be padding, and a second-last '=' needs a last one.
  size_t padding = 0;
  if (!in.empty() && in.back() == '=') padding = in[in.size() - 2] == '=' ? 2 : 1;
  if (in.find('=') < in.size() - padding) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);  // the padding decodes to zero bytes
  return out;
}

}  // namespace exportgate::webhook
