// A small Kubernetes API client over cpp-httplib + OpenSSL: JSON requests on pooled keep-alive
// connections, and streaming watches on dedicated connections that another thread can cancel.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/kube_config.hpp"

namespace httplib {
class ClientImpl;
}

namespace exportgate::webhook {

// No HTTP answer from the API server (connect refused, TLS failure, timeout) or a 5xx/429 answer:
// the API is unreachable for now. Callers fall back, retry with backoff, or deny.
class KubeUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KubeResponse {
  int status = 0;
  std::string body;
  bool ok() const { return status >= 200 && status < 300; }
  // The body as JSON; a Status message for errors. Throws KubeUnavailable on malformed JSON.
  nlohmann::json json() const;
  // "409 Conflict: <Status.message>" for logs and error texts.
  std::string describe() const;
};

struct KubeTimeouts {
  std::chrono::milliseconds connect{2'000};
  std::chrono::milliseconds request{3'000};      // read/write per request
  std::chrono::milliseconds watch_idle{90'000};  // no byte on a watch this long: reconnect
};

class KubeClient {
 public:
  KubeClient(KubeConfig config, KubeTimeouts timeouts = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // One request: GET, PUT, POST, DELETE, PATCH (a JSON merge patch) or APPLY (a PATCH as
  // server-side apply; the path carries fieldManager). Returns any HTTP answer below 500 (and not
  // 429) as is; throws KubeUnavailable otherwise. `timeout` overrides the request timeout when
  // non-zero.
  KubeResponse request(const std::string& method, const std::string& path,
                       const std::string& body = "",
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  KubeResponse get(const std::string& path) { return request("GET", path); }
  // An update of an object read before (read-modify-write): PUTs `object` to `path` without
  // metadata.managedFields, which the server keeps itself (sent back they only grow the body, and
  // a stale copy would overwrite the server's record). The resourceVersion read stays, so a
  // write since answers 409 Conflict.
  KubeResponse replace(const std::string& path, nlohmann::json object,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // A streaming GET (a watch): `on_data` gets each chunk and returns false to stop. Returns the
  // HTTP status when the stream ends (the server closes it at timeoutSeconds). Throws
  // KubeUnavailable when the connection fails or stalls longer than watch_idle, or cancel_all()
  // is called.
  int stream(const std::string& path, const std::function<bool(std::string_view)>& on_data);

  // Aborts every stream in progress and makes later ones fail at once (shutdown).
  void cancel_all();

  const KubeConfig& config() const { return config_; }

 private:
  std::unique_ptr<httplib::ClientImpl> connect(std::chrono::milliseconds read_timeout);
  std::unique_ptr<httplib::ClientImpl> take_pooled();
  void give_back(std::unique_ptr<httplib::ClientImpl> c);

  std::string bearer() const;  // config_.bearer_token(), failures as KubeUnavailable
  KubeConfig config_;
  KubeTimeouts timeouts_;
  std::mutex mu_;
  std::vector<std::unique_ptr<httplib::ClientImpl>> pool_;
  std::set<httplib::ClientImpl*> streams_;
  bool cancelled_ = false;
};

// Percent-encodes a query parameter value.
std::string url_encode(std::string_view s);

}  // namespace exportgate::webhook
