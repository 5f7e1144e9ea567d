// Tracks the open TLS connections of the server and whether each is serving a request, so a
// shutdown can close idle keep-alive connections at once while in-flight requests finish.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace exportgate::webhook {

class ConnectionTracker {
 public:
  ConnectionTracker() = default;
  ConnectionTracker(const ConnectionTracker&) = delete;
  ConnectionTracker& operator=(const ConnectionTracker&) = delete;

  // Registers a connection (called from the handshake); it is forgotten automatically when
  // OpenSSL frees the SSL object, before the socket is closed.
  void add(SSL* ssl);
  void set_busy(const SSL* ssl, bool busy);
  // Marks the connection to be closed once its current response is written (the request body
  // was not fully read, so the stream cannot be reused).
  void close_after_response(const SSL* ssl);
  // Called after a response is written: clears busy and closes the socket when asked to.
  void response_done(const SSL* ssl);

  // Shuts down the socket of every connection that is neither serving a request nor has
  // request bytes waiting. Returns how many were closed.
  size_t close_idle();
  size_t open_count() const;
  // Closes connections stuck mid-request: busy for longer than `busy_limit`, or idle (no
  // request being served) for longer than `idle_limit`, which for a connection that
  // cpp-httplib has not closed as idle means a client trickling its headers.
  size_t reap(std::chrono::steady_clock::time_point now, std::chrono::milliseconds busy_limit,
              std::chrono::milliseconds idle_limit);
  // Load shedding when every worker is taken: closes connections that are not serving a
  // request, have no request bytes waiting, and have been idle for at least `min_idle` (so a
  // connection that just finished its handshake keeps its chance to send). Idle keep-alive
  // connections are cheap for a client to reopen; a queued connection cannot run without a
  // worker. Returns how many were closed.
  size_t shed_idle(std::chrono::steady_clock::time_point now, std::chrono::milliseconds min_idle);
  // Closes every socket (end of the drain timeout).
  size_t close_all();

 private:
  static void on_ssl_free(void* parent, void* ptr, CRYPTO_EX_DATA* ad, int idx, long argl,
                          void* argp);
  static int ex_index();
  void remove(const SSL* ssl);

  struct Entry {
    int fd = -1;
    bool busy = false;
    bool close_after = false;
    std::chrono::steady_clock::time_point since;  // last change of `busy`
  };
  static void close_locked(Entry& e);
  mutable std::mutex mu_;
  std::unordered_map<const SSL*, Entry> connections_;
};

}  // namespace exportgate::webhook
