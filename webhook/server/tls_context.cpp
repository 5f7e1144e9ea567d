// TLS context setup and the per-handshake certificate callback (see tls_context.hpp).
#include "webhook/tls_context.hpp"

#include <openssl/err.h>

namespace exportgate::webhook {

void CertificateStore::set(Identity identity) {
  auto next = std::make_shared<const Identity>(std::move(identity));
  std::lock_guard lock(mu_);
  identity_ = std::move(next);
}

std::shared_ptr<const Identity> CertificateStore::current() const {
  std::lock_guard lock(mu_);
  return identity_;
}

namespace {

// Runs at every handshake: installs the current certificate on this connection only.
int select_certificate(SSL* ssl, void* arg) {
  const auto* options = static_cast<const TlsContextOptions*>(arg);
  auto identity = options->certificates->current();
  if (!identity) return 0;
  if (SSL_use_certificate(ssl, identity->cert.get()) != 1 ||
      SSL_use_PrivateKey(ssl, identity->key.get()) != 1) {
    return 0;
  }
  SSL_clear_chain_certs(ssl);
  for (const auto& c : identity->chain) {
    if (SSL_add1_chain_cert(ssl, c.get()) != 1) return 0;
  }
  return 1;
}

}  // namespace

void configure_server_context(SSL_CTX& ctx, const TlsContextOptions& options) {
  if (!options.certificates) throw TlsError("TLS context without a certificate store");
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(&ctx, TLS1_3_VERSION) != 1) {
    throw TlsError("cannot restrict TLS versions: " + openssl_error_text());
  }
  SSL_CTX_set_options(
      &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Forward-secret AEAD suites only for TLS 1.2 (TLS 1.3 suites are all fine).
  SSL_CTX_set_cipher_list(&ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  // The options object is owned by the Server and outlives the context.
  SSL_CTX_set_cert_cb(&ctx, &select_certificate, const_cast<TlsContextOptions*>(&options));
  // An idle keep-alive connection gives its two ~17 KB record buffers back until it is used.
  SSL_CTX_set_mode(&ctx, SSL_MODE_RELEASE_BUFFERS);

  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, options.client_ca_file.c_str(), nullptr) != 1) {
      throw TlsError("--client-ca " + options.client_ca_file +
                     ": cannot load CA certificates: " + openssl_error_text());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(&ctx, names);  // takes ownership
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
}

}  // namespace exportgate::webhook
