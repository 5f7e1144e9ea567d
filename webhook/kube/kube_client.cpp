// The Kubernetes API client (see kube_client.hpp).
#include "webhook/kube_client.hpp"

#include <httplib.h>

#include "policy/json_limits.hpp"
#include "webhook/openssl_ptr.hpp"
#include "webhook/tls_certs.hpp"

namespace exportgate::webhook {

using nlohmann::json;

namespace {

// Idle pooled connections kept for reuse; more concurrent requests open extra ones.
constexpr size_t kMaxPooled = 16;

X509StorePtr store_from_pem(const std::string& pem) {
  X509StorePtr store(X509_STORE_new());
  for (auto& cert : certificates_from_pem(pem, "the API server CA")) {
    X509_STORE_add_cert(store.get(), cert.get());
  }
  return store;
}

EvpPkeyPtr key_from_pem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw KubeConfigError("client key: not a PEM private key: " + openssl_error_text());
  return key;
}

// The headers of every API request: JSON answers, and the bearer token when there is one.
httplib::Headers request_headers(const std::string& token) {
  httplib::Headers headers{{"Accept", "application/json"}};
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return headers;
}

}  // namespace

json KubeResponse::json() const {
  auto j = policy::parse_json_bounded_or_discarded(body);
  if (j.is_discarded()) {
    throw KubeUnavailable("API server answered " + std::to_string(status) +
                          " with a non-JSON body");
  }
  return j;
}

std::string KubeResponse::describe() const {
  std::string s = std::to_string(status);
  auto j = policy::parse_json_bounded_or_discarded(body);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("reason") && j["reason"].is_string()) s += " " + j["reason"].get<std::string>();
    if (j.contains("message") && j["message"].is_string()) {
      s += ": " + j["message"].get<std::string>();
    }
  }
  return s;
}

KubeClient::KubeClient(KubeConfig config, KubeTimeouts timeouts)
    : config_(std::move(config)), timeouts_(timeouts) {
  // Fail at start-up on bad credentials rather than on the first request.
  (void)connect(timeouts_.request);
}

KubeClient::~KubeClient() {
  cancel_all();
}

std::unique_ptr<httplib::ClientImpl> KubeClient::connect(std::chrono::milliseconds read_timeout) {
  std::unique_ptr<httplib::ClientImpl> c;
  if (config_.scheme == "https") {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (!config_.client_cert_pem.empty()) {
      auto certs = certificates_from_pem(config_.client_cert_pem, "the client certificate");
      auto key = key_from_pem(config_.client_key_pem);
      // SSLClient takes its own references to the certificate and key.
      ssl = std::make_unique<httplib::SSLClient>(config_.host, config_.port, certs.front().get(),
                                                 key.get());
    } else {
      ssl = std::make_unique<httplib::SSLClient>(config_.host, config_.port);
    }
    if (!ssl->is_valid()) throw KubeConfigError("cannot set up TLS to the API server");
    if (!config_.ca_pem.empty()) ssl->set_ca_cert_store(store_from_pem(config_.ca_pem).release());
    ssl->enable_server_certificate_verification(!config_.insecure_skip_verify);
    c = std::move(ssl);
  } else {
    c = std::make_unique<httplib::ClientImpl>(config_.host, config_.port);
  }
  c->set_tcp_nodelay(true);
  c->set_keep_alive(true);
  c->set_connection_timeout(
      std::chrono::duration_cast<std::chrono::seconds>(timeouts_.connect).count(),
      (timeouts_.connect.count() % 1000) * 1000);
  c->set_read_timeout(read_timeout);
  c->set_write_timeout(timeouts_.request);
  return c;
}

std::unique_ptr<httplib::ClientImpl> KubeClient::take_pooled() {
  {
    std::lock_guard lock(mu_);
    if (!pool_.empty()) {
      auto c = std::move(pool_.back());
      pool_.pop_back();
      return c;
    }
  }
  return connect(timeouts_.request);
}

void KubeClient::give_back(std::unique_ptr<httplib::ClientImpl> c) {
  std::lock_guard lock(mu_);
  if (pool_.size() < kMaxPooled && !cancelled_) pool_.push_back(std::move(c));
}

std::string KubeClient::bearer() const {
  try {
    return config_.bearer_token();
  } catch (const KubeConfigError& e) {
    // No credentials (a failing exec plugin, an unreadable token file): the API is unusable,
    // which callers already handle (fail closed), rather than an unexpected error type.
    throw KubeUnavailable(std::string("credentials: ") + e.what());
  }
}

KubeResponse KubeClient::request(const std::string& method, const std::string& path,
                                 const std::string& body, std::chrono::milliseconds timeout) {
  auto c = take_pooled();
  c->set_read_timeout(timeout.count() > 0 ? timeout : timeouts_.request);
  httplib::Headers headers = request_headers(bearer());
  auto send = [&]() -> httplib::Result {
    if (method == "GET") return c->Get(path.c_str(), headers);
    if (method == "PUT") return c->Put(path.c_str(), headers, body, "application/json");
    if (method == "POST") return c->Post(path.c_str(), headers, body, "application/json");
    if (method == "DELETE") return c->Delete(path.c_str(), headers);
    if (method == "PATCH") {
      return c->Patch(path.c_str(), headers, body, "application/merge-patch+json");
    }
    if (method == "APPLY") {
      // Server-side apply: JSON is YAML, so the JSON body goes as is.
      return c->Patch(path.c_str(), headers, body, "application/apply-patch+yaml");
    }
    throw std::invalid_argument("KubeClient: unsupported method " + method);
  };
  httplib::Result res = send();
  if (res && res->status == 401 && config_.exec) {
    // The plugin's token was revoked or expired early: get a new one and try once more.
    config_.exec->invalidate();
    headers = request_headers(bearer());
    res = send();
  }
  if (!res) {
    throw KubeUnavailable("API server " + config_.host + ":" + std::to_string(config_.port) +
                          " unreachable: " + httplib::to_string(res.error()) + " (" + method + " " +
                          path + ")");
  }
  KubeResponse out{res->status, std::move(res->body)};
  give_back(std::move(c));
  if (out.status >= 500 || out.status == 429) {
    throw KubeUnavailable("API server answered " + out.describe() + " (" + method + " " + path +
                          ")");
  }
  return out;
}

KubeResponse KubeClient::replace(const std::string& path, json object,
                                 std::chrono::milliseconds timeout) {
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    meta->erase("managedFields");
  }
  return request("PUT", path, object.dump(), timeout);
}

int KubeClient::stream(const std::string& path,
                       const std::function<bool(std::string_view)>& on_data) {
  auto c = connect(timeouts_.watch_idle);
  {
    std::lock_guard lock(mu_);
    if (cancelled_) throw KubeUnavailable("client is shutting down");
    streams_.insert(c.get());
  }
  struct Unregister {
    KubeClient* self;
    httplib::ClientImpl* c;
    ~Unregister() {
      std::lock_guard lock(self->mu_);
      self->streams_.erase(c);
    }
  } unregister{this, c.get()};
  httplib::Headers headers = request_headers(bearer());
  int status = 0;
  std::string error_body;
  auto res = c->Get(
      path.c_str(), headers,
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status != 200) {
          if (error_body.size() < 4096) error_body.append(data, n);
          return true;
        }
        return on_data(std::string_view(data, n));
      });
  if (!res && res.error() != httplib::Error::Canceled) {
    throw KubeUnavailable("watch " + path + ": " + httplib::to_string(res.error()));
  }
  if (status >= 500 || status == 429) {
    throw KubeUnavailable("watch " + path + ": " + KubeResponse{status, error_body}.describe());
  }
  if (status == 401 && config_.exec) config_.exec->invalidate();  // the next attempt re-runs it
  return status;
}

void KubeClient::cancel_all() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  pool_.clear();
  for (auto* c : streams_) c->stop();
}

std::string url_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

}  // namespace exportgate::webhook
