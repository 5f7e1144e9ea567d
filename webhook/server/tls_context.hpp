// The server's TLS configuration: TLS 1.2/1.3 only, the serving certificate chosen per handshake
// from a hot-swappable store (so rotated certificates apply without restarting the listener),
// and optional client-certificate verification.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "webhook/tls_certs.hpp"

namespace exportgate::webhook {

class CertificateStore {
 public:
  void set(Identity identity);
  std::shared_ptr<const Identity> current() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Identity> identity_;
};

struct TlsContextOptions {
  CertificateStore* certificates = nullptr;  // required; must outlive the context
  std::string client_ca_file;                // "" = no client certificates requested
};

// Configures `ctx` for the webhook's listener. Throws TlsError.
void configure_server_context(SSL_CTX& ctx, const TlsContextOptions& options);

}  // namespace exportgate::webhook
