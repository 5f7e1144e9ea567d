// The HTTPS transport of the webhook: an event-driven HTTP/1.1 server (Boost.Beast over Asio and
// OpenSSL) with a few I/O threads for any number of connections. It replaced cpp-httplib's server,
// which serves each keep-alive connection on a thread of its own for the connection's whole life
// and needed three of its internals changed to be usable here (issue 18): its keep_alive() poll
// loop, its listen backlog of 5, and the order in which it frees a connection's SSL and socket.
// Here an idle connection costs a socket and its buffers, not a thread; every limit and timeout
// of a request is enforced by this file, through Beast's public API only.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exportgate::webhook {

class ElasticThreadPool;

struct HttpRequest {
  std::string method;
  std::string path;  // the target without its query
  std::string remote_addr;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of the first header of that name (case-insensitive), "" if none.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this response
};

struct HttpsListenerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  int backlog = 1024;
  size_t io_threads = 0;  // 0 = one per core
  size_t max_header_bytes = 64 * 1024;
  size_t max_target_bytes = 8 * 1024;
  size_t max_body_bytes = 3 * 1024 * 1024;
  std::chrono::milliseconds read_timeout{10'000};   // per read of a request, and the handshake
  std::chrono::milliseconds write_timeout{10'000};  // per response
  std::chrono::milliseconds keep_alive_timeout{120'000};  // idle between requests
  std::chrono::milliseconds request_timeout{30'000};      // a whole request, once it started
};

// Errors the transport answers itself (the request never reaches the handler).
struct RejectedRequest {
  int status;
  std::string message;
  std::string path;  // "" when the request line was not read
  std::string remote_addr;
};

class HttpsListener {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponse&)>;
  // Builds the JSON (or other) body of an error the transport answers.
  using ErrorBody = std::function<std::string(int status, const std::string& message)>;
  using RejectObserver = std::function<void(const RejectedRequest&)>;

  // Takes ownership of `ctx` (configured by the caller). With a `pool`, handlers run on it (they
  // may block, e.g. on the cluster ledger); without, on the I/O threads (they must not).
  // Binds at once; throws std::runtime_error when it cannot.
  HttpsListener(HttpsListenerOptions options, SSL_CTX* ctx, Handler handler, ErrorBody error_body,
                RejectObserver on_reject, ElasticThreadPool* pool);
  ~HttpsListener();
  HttpsListener(const HttpsListener&) = delete;
  HttpsListener& operator=(const HttpsListener&) = delete;

  int port() const;
  void start();           // accepts and serves on the I/O threads
  void stop_accepting();  // closes the listening socket; open connections go on
  void close_idle();      // closes connections waiting for a request; busy ones close after it
  size_t close_all();     // closes every connection now; returns how many were open
  size_t open_count() const;
  void stop();  // stops the I/O threads (after close_all) and joins them

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;  // its sessions refer to it: it outlives them
};

}  // namespace exportgate::webhook
