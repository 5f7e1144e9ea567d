// Certificates and keys for the TLS listener: loading PEM files, generating the self-signed
// default certificate (and test CAs), reading expiry. All OpenSSL objects are owned (RAII).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "webhook/openssl_ptr.hpp"

namespace exportgate::webhook {

class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A certificate (with its chain, leaf first) and the matching private key.
struct Identity {
  X509Ptr cert;
  std::vector<X509Ptr> chain;  // intermediates after the leaf, may be empty
  EvpPkeyPtr key;
};

// Reads a PEM certificate file (leaf first, then any intermediates) and a PEM key file.
// Throws TlsError naming the file when either is unreadable or the key does not match.
Identity load_identity(const std::string& cert_path, const std::string& key_path);

// What to put in a generated certificate.
struct CertificateRequest {
  std::string common_name = "exportgate";
  std::vector<std::string> sans;  // DNS names or IP literals (IPv4/IPv6)
  int days = 365;
  bool is_ca = false;
  bool client_auth = false;  // extendedKeyUsage clientAuth instead of serverAuth
};

// A new P-256 key.
EvpPkeyPtr generate_key();
// Issues a certificate for `key` signed by `issuer` (self-signed when issuer is null).
X509Ptr issue_certificate(const CertificateRequest& request, EVP_PKEY* key, X509* issuer_cert,
                          EVP_PKEY* issuer_key);
// The default serving identity: self-signed, SANs localhost, 127.0.0.1 and `extra_dns_names`.
Identity generate_self_signed(const std::vector<std::string>& extra_dns_names);

std::string to_pem(X509* cert);
std::string to_pem(EVP_PKEY* key);
// Parses every certificate in `pem` (throws TlsError when there is none).
std::vector<X509Ptr> certificates_from_pem(const std::string& pem, const std::string& origin);

// notAfter as seconds since the Unix epoch.
int64_t not_after_unix(const X509* cert);
// Subject alternative names as text ("DNS:localhost", "IP:127.0.0.1").
std::vector<std::string> subject_alt_names(const X509* cert);

// The last OpenSSL error queue entry as text (and clears the queue).
std::string openssl_error_text();

}  // namespace exportgate::webhook
