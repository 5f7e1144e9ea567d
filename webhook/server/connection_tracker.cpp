// Connection tracking for graceful drain (see connection_tracker.hpp).
#include "webhook/connection_tracker.hpp"

#include <sys/socket.h>

namespace exportgate::webhook {

int ConnectionTracker::ex_index() {
  // One process-wide ex_data slot; the value stored is the tracker that owns the connection.
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &on_ssl_free);
  return index;
}

void ConnectionTracker::on_ssl_free(void* parent, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  if (ptr) static_cast<ConnectionTracker*>(ptr)->remove(static_cast<const SSL*>(parent));
}

void ConnectionTracker::add(SSL* ssl) {
  if (SSL_get_ex_data(ssl, ex_index()) != nullptr) return;  // TLS 1.2 renegotiation
  SSL_set_ex_data(ssl, ex_index(), this);
  std::lock_guard lock(mu_);
  connections_[ssl] = Entry{SSL_get_fd(ssl), false, false, std::chrono::steady_clock::now()};
}

void ConnectionTracker::remove(const SSL* ssl) {
  std::lock_guard lock(mu_);
  connections_.erase(ssl);
}

void ConnectionTracker::set_busy(const SSL* ssl, bool busy) {
  if (!ssl) return;
  std::lock_guard lock(mu_);
  auto it = connections_.find(ssl);
  if (it != connections_.end() && it->second.busy != busy) {
    it->second.busy = busy;
    it->second.since = std::chrono::steady_clock::now();
  }
}

void ConnectionTracker::close_locked(Entry& e) {
  if (e.fd < 0) return;
  shutdown(e.fd, SHUT_RDWR);
  e.fd = -1;
}

void ConnectionTracker::close_after_response(const SSL* ssl) {
  if (!ssl) return;
  std::lock_guard lock(mu_);
  auto it = connections_.find(ssl);
  if (it != connections_.end()) it->second.close_after = true;
}

void ConnectionTracker::response_done(const SSL* ssl) {
  if (!ssl) return;
  std::lock_guard lock(mu_);
  auto it = connections_.find(ssl);
  if (it == connections_.end()) return;
  it->second.busy = false;
  it->second.since = std::chrono::steady_clock::now();
  if (it->second.close_after) close_locked(it->second);
}

size_t ConnectionTracker::reap(std::chrono::steady_clock::time_point now,
                               std::chrono::milliseconds busy_limit,
                               std::chrono::milliseconds idle_limit) {
  std::lock_guard lock(mu_);
  size_t closed = 0;
  for (auto& [ssl, e] : connections_) {
    if (e.fd < 0) continue;
    if (now - e.since > (e.busy ? busy_limit : idle_limit)) {
      close_locked(e);
      ++closed;
    }
  }
  return closed;
}

size_t ConnectionTracker::close_all() {
  std::lock_guard lock(mu_);
  size_t closed = 0;
  for (auto& [ssl, e] : connections_) {
    if (e.fd >= 0) ++closed;
    close_locked(e);
  }
  return closed;
}

size_t ConnectionTracker::close_idle() {
  // Holding the lock keeps each fd valid: the worker removes its entry (in SSL_free) before it
  // closes the socket, so an fd here is never closed and reused under us.
  std::lock_guard lock(mu_);
  size_t closed = 0;
  for (auto& [ssl, entry] : connections_) {
    if (entry.busy || entry.fd < 0) continue;
    char byte;
    if (recv(entry.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) continue;  // a request is arriving
    close_locked(entry);
    ++closed;
  }
  return closed;
}

size_t ConnectionTracker::shed_idle(std::chrono::steady_clock::time_point now,
                                    std::chrono::milliseconds min_idle) {
  std::lock_guard lock(mu_);  // keeps each fd valid, as in close_idle()
  size_t closed = 0;
  for (auto& [ssl, entry] : connections_) {
    if (entry.busy || entry.fd < 0 || now - entry.since < min_idle) continue;
    char byte;
    if (recv(entry.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0) continue;  // a request is arriving
    close_locked(entry);
    ++closed;
  }
  return closed;
}

size_t ConnectionTracker::open_count() const {
  std::lock_guard lock(mu_);
  return connections_.size();
}

}  // namespace exportgate::webhook
