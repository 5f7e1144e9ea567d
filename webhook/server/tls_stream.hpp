// A TLS stream for Beast on a socket's own descriptor: OpenSSL reads and writes the socket itself
// (SSL_set_fd, non-blocking) and the stream waits for readiness through Asio. Asio's
// ssl::stream keeps, for the life of each connection, two 17 KB buffers of its own and a BIO pair
// with two more: ~84 KB of resident memory per kept-alive connection, measured (256 of them after
// a burst were most of a replica's excess over its memory budget, issue 19). Here an idle
// connection keeps its SSL object only: OpenSSL's record buffers are given back between records
// (SSL_MODE_RELEASE_BUFFERS, set on the server's context).
//
// Meets Asio's AsyncReadStream and AsyncWriteStream requirements; operations complete through
// the socket's executor, never inside the call that starts them. One operation of each direction
// at a time, on the socket's io_context thread (as the listener uses it).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace exportgate::webhook {

class TlsStream {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using error_code = boost::system::error_code;

  // Server side. ok() is false when OpenSSL could not make the session (out of memory).
  TlsStream(socket_type socket, SSL_CTX* ctx) : socket_(std::move(socket)), ssl_(SSL_new(ctx)) {
    if (!ssl_) return;
    error_code ec;
    socket_.non_blocking(true, ec);
    if (ec || SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1) {
      ssl_.reset();
      return;
    }
    // Without read-ahead OpenSSL reads each record's 5-byte header and its body in two calls.
    SSL_set_read_ahead(ssl_.get(), 1);
    SSL_set_accept_state(ssl_.get());
  }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool ok() const { return ssl_ != nullptr; }
  executor_type get_executor() { return socket_.get_executor(); }
  socket_type& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_.get(); }
  // Bytes OpenSSL has read from the socket and not yet given out (a pipelined request): then
  // the socket may never become readable again for them.
  bool has_pending() const { return ssl_ && SSL_has_pending(ssl_.get()) == 1; }

  // Reads what OpenSSL can give without waiting; false when nothing (or an error, which the next
  // asynchronous read reports).
  bool try_read(boost::asio::mutable_buffer b, size_t& n) {
    if (!ssl_ || !socket_.is_open()) return false;
    ERR_clear_error();
    const bool got =
        SSL_read_ex(ssl_.get(), b.data(), std::min<size_t>(b.size(), INT_MAX), &n) == 1;
    ERR_clear_error();
    return got;
  }

  template <typename Handler>
  auto async_handshake(Handler&& handler) {
    return boost::asio::async_compose<Handler, void(error_code)>(
        Op<Handshake, false>(*this, Handshake{}), handler, socket_);
  }

  template <typename MutableBuffers, typename Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    boost::asio::mutable_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::mutable_buffer b = *it; b.size() > 0) {
        first = b;
        break;
      }
    }
    return boost::asio::async_compose<Handler, void(error_code, std::size_t)>(
        Op<Read, true>(*this, Read{first}), handler, socket_);
  }

  // Writes the buffers as one TLS record when they are small and several (Beast hands a
  // response over as its header pieces and body: a record and a send() each otherwise).
  template <typename ConstBuffers, typename Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    boost::asio::const_buffer first;
    size_t total = 0, count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      if (count++ == 0) first = b;
      total += b.size();
    }
    if (count > 1 && total <= kCoalesceBytes) {
      coalesced_.resize(total);
      boost::asio::buffer_copy(boost::asio::buffer(coalesced_), buffers);
      first = boost::asio::buffer(coalesced_);
    }
    return boost::asio::async_compose<Handler, void(error_code, std::size_t)>(
        Op<Write, true>(*this, Write{first}), handler, socket_);
  }

 private:
  static constexpr size_t kCoalesceBytes = 16 * 1024;

  struct Handshake {
    int operator()(SSL* ssl, size_t&) const { return SSL_do_handshake(ssl); }
  };
  struct Read {
    boost::asio::mutable_buffer b;
    int operator()(SSL* ssl, size_t& n) const {
      return SSL_read_ex(ssl, b.data(), std::min<size_t>(b.size(), INT_MAX), &n);
    }
  };
  struct Write {
    boost::asio::const_buffer b;
    int operator()(SSL* ssl, size_t& n) const {
      if (b.size() == 0) return 1;  // n stays 0
      return SSL_write_ex(ssl, b.data(), std::min<size_t>(b.size(), INT_MAX), &n);
    }
  };

  // One OpenSSL call, retried whenever the socket is ready for what it wants. OpenSSL requires
  // a retried SSL_write to get the same bytes: Write's buffer (or coalesced_) stays as it was.
  template <typename Call, bool WithSize>
  struct Op {
    Op(TlsStream& stream, Call c) : s(stream), call(c) {}
    TlsStream& s;
    Call call;
    enum class Step { kStart, kRetry, kDone } step = Step::kStart;
    error_code result;
    size_t bytes = 0;

    template <typename Self>
    void operator()(Self& self, error_code ec = {}) {
      if (step == Step::kDone) return complete(self, result, bytes);
      if (ec) return complete(self, ec, 0);
      const bool first = step == Step::kStart;
      step = Step::kRetry;
      // After close() the descriptor's number may belong to another file by now.
      if (!s.ssl_ || !s.socket_.is_open()) {
        return finish(self, first, boost::asio::error::bad_descriptor, 0);
      }
      ERR_clear_error();
      errno = 0;
      size_t n = 0;
      const int r = call(s.ssl_.get(), n);
      if (r > 0) return finish(self, first, {}, n);
      switch (SSL_get_error(s.ssl_.get(), r)) {
        case SSL_ERROR_WANT_READ:
          return s.socket_.async_wait(socket_type::wait_read, std::move(self));
        case SSL_ERROR_WANT_WRITE:
          return s.socket_.async_wait(socket_type::wait_write, std::move(self));
        case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
          return finish(self, first, boost::asio::error::eof, 0);
        case SSL_ERROR_SYSCALL:
          if (errno != 0)
            return finish(self, first, error_code(errno, boost::system::system_category()), 0);
          return finish(self, first, boost::asio::ssl::error::stream_truncated, 0);
        default: {
          const unsigned long e = ERR_peek_last_error();
          ERR_clear_error();
          if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            return finish(self, first, boost::asio::ssl::error::stream_truncated, 0);
          }
          return finish(self, first,
                        error_code(static_cast<int>(e), boost::asio::error::get_ssl_category()), 0);
        }
      }
    }

    // A result found in the starting call is delivered through the executor.
    template <typename Self>
    void finish(Self& self, bool first, error_code ec, size_t n) {
      if (!first) return complete(self, ec, n);
      step = Step::kDone;
      result = ec;
      bytes = n;
      boost::asio::post(s.socket_.get_executor(), std::move(self));
    }

    template <typename Self>
    void complete(Self& self, error_code ec, size_t n) {
      if constexpr (std::is_same_v<Call, Write>) s.release_coalesced();
      if constexpr (WithSize) {
        self.complete(ec, n);
      } else {
        (void)n;
        self.complete(ec);
      }
    }
  };

  void release_coalesced() {
    coalesced_.clear();
    coalesced_.shrink_to_fit();
  }

  socket_type socket_;
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL, SslFree> ssl_;
  std::vector<char> coalesced_;  // only while a coalesced write is under way
};

}  // namespace exportgate::webhook
