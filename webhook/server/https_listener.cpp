// The event-driven HTTPS transport (see https_listener.hpp). One io_context per I/O thread, each
// run by that thread alone (no strands, no locks between threads on the hot path); connections
// are spread over them as they are accepted. Every read and write of a connection is bounded by
// its deadline: a lazy timer (re-armed only when a deadline moves earlier or it fires) cancels the
// socket's pending operation once the deadline passes, so a stalled body can still be answered
// 400 before closing.
#include "webhook/https_listener.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "webhook/thread_pool.hpp"
#include "webhook/tls_stream.hpp"

namespace exportgate::webhook {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// After an error answer the rest of what the client sends is read and dropped (a "lingering
// close"): closing with unread bytes makes the kernel send a reset, which can destroy the answer
// before the client reads it. Bounded in bytes here and in time by the read timeouts.
constexpr size_t kLingerBytesPerBodyLimit = 16;
// The first read of a request takes this much at once: a typical AdmissionReview (4-8 KB) and
// its headers then arrive in one read.
constexpr size_t kFirstRead = 16 * 1024;

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

bool HttpRequest::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return iequals(h.first, name); });
}

class HttpsSession;

struct HttpsListener::Impl {
  HttpsListenerOptions options;
  Handler handler;
  ErrorBody error_body;
  RejectObserver on_reject;
  ElasticThreadPool* pool;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx;
  std::atomic<bool> draining{false};
  mutable std::mutex mu;
  std::unordered_map<HttpsSession*, std::weak_ptr<HttpsSession>> sessions;
  // Declared after what sessions use: destroying an io_context destroys the handlers it still
  // holds, and with them the last references to their sessions.
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::atomic<size_t> next_ioc{0};
  // One timer per io_context, made at start: it creates that context's reactor (an epoll, an
  // eventfd and a timerfd) now instead of at its first connection, so the descriptors a running
  // process holds do not change with its traffic (the soak test counts them).
  std::vector<asio::steady_timer> reactors;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::vector<std::thread> threads;
  int port = 0;

  Impl(HttpsListenerOptions o, SSL_CTX* native, Handler h, ErrorBody e, RejectObserver r,
       ElasticThreadPool* p)
      : options(std::move(o)),
        handler(std::move(h)),
        error_body(std::move(e)),
        on_reject(std::move(r)),
        pool(p),
        ctx(native, &SSL_CTX_free),
        iocs(make_iocs(thread_count())),
        acceptor(*iocs.front()),
        accept_retry(acceptor.get_executor()) {
    reactors.reserve(iocs.size());
    for (auto& ioc : iocs) reactors.emplace_back(*ioc);
  }

  static std::vector<std::unique_ptr<asio::io_context>> make_iocs(size_t n) {
    std::vector<std::unique_ptr<asio::io_context>> v;
    for (size_t i = 0; i < n; ++i) v.push_back(std::make_unique<asio::io_context>(1));
    return v;
  }

  size_t thread_count() const {
    if (options.io_threads > 0) return options.io_threads;
    return std::max<size_t>(1, std::thread::hardware_concurrency());
  }
  void accept();
  void call_handler(const HttpRequest& req, HttpResponse& res) const;
  template <typename Fn>
  void for_each_session(Fn fn);
};

class HttpsSession : public std::enable_shared_from_this<HttpsSession> {
 public:
  HttpsSession(tcp::socket socket, HttpsListener::Impl& owner)
      : owner_(owner), socket_(std::move(socket)), timer_(socket_.get_executor()) {
    // No strand: the socket's io_context is run by one thread only.
    beast::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
    socket_.set_option(tcp::no_delay(true), ec);  // no delayed-ACK stall per reply
  }
  ~HttpsSession() {
    std::lock_guard lock(owner_.mu);
    owner_.sessions.erase(this);
  }

  void run() {
    {
      std::lock_guard lock(owner_.mu);
      owner_.sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(timer_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

  // Called on any thread: each runs on the session's I/O thread.
  void close_if_idle() {
    asio::post(timer_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      // Bytes waiting on the socket: a request is arriving, let it finish first.
      if (self->state_ == State::kIdle && self->sock().available(ec) == 0) {
        self->close();
      }
    });
  }
  void close_now() {
    asio::post(timer_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  enum class State { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing, kClosed };

  // Bounds the next operation: once `d` has passed, the socket's pending operation is cancelled.
  // The timer is only re-armed when the deadline moves earlier than its expiry (once per request
  // at most), not for every operation.
  void arm(milliseconds d) {
    timed_out_ = false;
    deadline_at_ = Clock::now() + std::max(d, milliseconds(1));
    if (!timer_running_ || deadline_at_ < timer_expiry_) start_timer();
  }
  void disarm() { deadline_at_ = Clock::time_point::max(); }
  void start_timer() {
    timer_running_ = true;
    timer_expiry_ = deadline_at_;
    const unsigned gen = ++timer_gen_;
    timer_.expires_at(timer_expiry_);
    timer_.async_wait([weak = weak_from_this(), gen](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || gen != self->timer_gen_) return;
      self->on_timer();
    });
  }
  void on_timer() {
    timer_running_ = false;
    if (state_ == State::kClosed || deadline_at_ == Clock::time_point::max()) return;
    if (Clock::now() < deadline_at_) return start_timer();  // the deadline moved on
    timed_out_ = true;
    beast::error_code ignored;
    sock().cancel(ignored);
  }

  // The client's first bytes (within the read timeout), then the TLS handshake (within another).
  void handshake() {
    state_ = State::kHandshake;
    arm(owner_.options.read_timeout);
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->disarm();
      if (ec || self->state_ == State::kClosed) return self->close();
      self->stream_.emplace(std::move(self->socket_), self->owner_.ctx.get());
      if (!self->stream_->ok()) return self->close();
      self->arm(self->owner_.options.read_timeout);
      self->stream_->async_handshake([self](beast::error_code e) {
        self->disarm();
        if (e || self->state_ == State::kClosed) {
          return self->close();
        }
        self->wait_for_request();
      });
    });
  }

  // Idle between requests: wait for the next one's first bytes (keep-alive timeout) without a
  // read buffer, which is only made once they are there (16 KB per kept-alive connection
  // otherwise).
  void wait_for_request() {
    if (owner_.draining) return close();
    if (buffer_.size() > 0) return start_request();
    buffer_.shrink_to_fit();  // empty: frees it
    state_ = State::kIdle;
    if (stream_->has_pending()) return read_first();  // pipelined: already read by OpenSSL
    arm(owner_.options.keep_alive_timeout);
    sock().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->disarm();
      if (self->state_ == State::kClosed) return;
      if (ec) return self->close();
      self->read_first();
    });
  }

  // The first read of a request: a typical review and its headers in one go.
  void read_first() {
    state_ = State::kReading;
    // The socket is readable: the record is usually all there, read it now rather than through
    // another turn of the event loop.
    size_t got = 0;
    if (stream_->try_read(buffer_.prepare(kFirstRead), got)) {
      buffer_.commit(got);
      return start_request();
    }
    arm(owner_.options.read_timeout);
    stream_->async_read_some(buffer_.prepare(kFirstRead),
                             [self = shared_from_this()](beast::error_code ec, size_t n) {
                               self->disarm();
                               if (self->state_ == State::kClosed) return;
                               if (ec) return self->close();
                               self->buffer_.commit(n);
                               self->start_request();
                             });
  }

  void start_request() {
    state_ = State::kReading;
    deadline_ = Clock::now() + owner_.options.request_timeout;
    header_checked_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(owner_.options.max_header_bytes));
    // Checked below, so an announced length can be drained. (Not boost::none: Boost 1.74 compares
    // a Content-Length with the disengaged optional and refuses every body.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    read_more();
  }

  void read_more() {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
    arm(std::min(owner_.options.read_timeout, left));
    http::async_read_some(*stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->disarm();
                            self->on_read(ec);
                          });
  }

  void on_read(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec == http::error::header_limit) {
      return reject(431, "request headers exceed " +
                             std::to_string(owner_.options.max_header_bytes) + " bytes");
    }
    if (ec) {
      if (timed_out_ && parser_->is_header_done()) {
        return reject(400, "request body incomplete: the client stopped sending or timed out");
      }
      if (timed_out_ || ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::ssl::error::stream_truncated || ec == asio::error::operation_aborted ||
          ec.category() == asio::error::get_system_category()) {
        return close();  // the client went away, or stalled before its request was read
      }
      return reject(400, "bad request: " + ec.message());
    }
    if (parser_->is_header_done() && !header_checked_) {
      header_checked_ = true;
      if (parser_->get().target().size() > owner_.options.max_target_bytes) {
        return reject(414, "request URI too long");
      }
      const auto length = parser_->content_length();
      if (length && *length > owner_.options.max_body_bytes) return reject_oversized();
    }
    if (parser_->get().body().size() > owner_.options.max_body_bytes) return reject_oversized();
    if (!parser_->is_done()) return read_more();
    dispatch();
  }

  void reject_oversized() {
    reject(413, "request body exceeds the limit of " +
                    std::to_string(owner_.options.max_body_bytes) + " bytes");
  }

  void reject(int status, std::string message) {
    RejectedRequest r{status, std::move(message), "", remote_};
    if (parser_ && parser_->is_header_done()) r.path = path_of(parser_->get().target());
    if (owner_.on_reject) owner_.on_reject(r);
    HttpResponse res;
    res.status = status;
    res.content_type = "application/json";
    res.body = owner_.error_body ? owner_.error_body(status, r.message) : r.message;
    res.close = true;
    write(std::move(res));
  }

  static std::string path_of(beast::string_view target) {
    const std::string_view t(target.data(), target.size());
    return std::string(t.substr(0, t.find('?')));
  }

  void dispatch() {
    state_ = State::kHandling;
    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    auto req = std::make_shared<HttpRequest>();
    req->method = std::string(message.method_string());
    req->path = path_of(message.target());
    req->remote_addr = remote_;
    req->headers.reserve(16);
    for (const auto& field : message) {
      req->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    req->body = std::move(message.body());
    parser_.reset();
    if (!owner_.pool) {
      HttpResponse res;
      owner_.call_handler(*req, res);
      return write(std::move(res));
    }
    // The handler may block (the cluster ledger): it runs on the pool, the answer comes back to
    // this connection's I/O thread.
    owner_.pool->enqueue([self = shared_from_this(), req] {
      auto res = std::make_shared<HttpResponse>();
      self->owner_.call_handler(*req, *res);
      asio::post(self->timer_.get_executor(), [self, res] { self->write(std::move(*res)); });
    });
  }

  void write(HttpResponse r) {
    if (state_ == State::kClosed) return;
    const bool close_after = r.close || !keep_alive_ || owner_.draining;
    response_ = http::response<http::string_body>{};
    response_.version(version_);
    response_.result(static_cast<unsigned>(r.status));
    if (!r.content_type.empty()) response_.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) response_.set(k, v);
    response_.keep_alive(!close_after);
    response_.body() = std::move(r.body);
    response_.prepare_payload();
    state_ = State::kWriting;
    arm(owner_.options.write_timeout);
    http::async_write(*stream_, response_,
                      [self = shared_from_this(), close_after](beast::error_code ec, size_t) {
                        self->disarm();
                        if (self->state_ == State::kClosed) return;
                        if (ec) return self->close();
                        self->response_ = http::response<http::string_body>{};
                        if (close_after) return self->linger();
                        self->keep_alive_ = true;
                        self->version_ = 11;
                        self->wait_for_request();
                      });
  }

  // Half-close, then read and drop what the client still sends until it closes (bounded).
  void linger() {
    state_ = State::kClosing;
    beast::error_code ec;
    sock().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    scratch_ = std::make_unique<std::array<char, 16384>>();
    linger_deadline_ = Clock::now() + owner_.options.request_timeout;
    linger_left_ = owner_.options.max_body_bytes * kLingerBytesPerBodyLimit;
    linger_read();
  }
  void linger_read() {
    const auto left = std::chrono::duration_cast<milliseconds>(linger_deadline_ - Clock::now());
    arm(std::min(owner_.options.read_timeout, left));
    sock().async_read_some(asio::buffer(*scratch_),
                           [self = shared_from_this()](beast::error_code ec, size_t n) {
                             self->disarm();
                             if (ec || n >= self->linger_left_ || self->state_ == State::kClosed)
                               return self->close();
                             self->linger_left_ -= n;
                             self->linger_read();
                           });
  }

  void close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    disarm();
    ++timer_gen_;
    timer_.cancel();
    beast::error_code ec;
    sock().shutdown(tcp::socket::shutdown_both, ec);
    sock().close(ec);
  }

  HttpsListener::Impl& owner_;
  // The TLS stream is made when the client's first bytes arrive: a connection that never speaks
  // costs its socket, not a TLS engine's buffers (~40 KB).
  tcp::socket socket_;
  std::optional<TlsStream> stream_;
  tcp::socket& sock() { return stream_ ? stream_->next_layer() : socket_; }
  asio::steady_timer timer_;
  unsigned timer_gen_ = 0;
  bool timer_running_ = false;
  Clock::time_point timer_expiry_;
  Clock::time_point deadline_at_ = Clock::time_point::max();
  bool timed_out_ = false;
  State state_ = State::kHandshake;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  Clock::time_point deadline_;
  bool header_checked_ = false;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::unique_ptr<std::array<char, 16384>> scratch_;
  Clock::time_point linger_deadline_;
  size_t linger_left_ = 0;
};

void HttpsListener::Impl::accept() {
  auto& target = *iocs[next_ioc++ % iocs.size()];
  acceptor.async_accept(target, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // stop_accepting
    if (ec) {
      // Out of descriptors or memory: try again shortly rather than stop serving.
      accept_retry.expires_after(milliseconds(50));
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e) accept();
      });
      return;
    }
    std::make_shared<HttpsSession>(std::move(socket), *this)->run();
    accept();
  });
}

void HttpsListener::Impl::call_handler(const HttpRequest& req, HttpResponse& res) const {
  try {
    handler(req, res);
  } catch (const std::exception& e) {
    res = HttpResponse{};
    res.status = 500;
    res.content_type = "application/json";
    res.body =
        error_body ? error_body(500, std::string("internal error: ") + e.what()) : "internal error";
  }
}

template <typename Fn>
void HttpsListener::Impl::for_each_session(Fn fn) {
  std::vector<std::shared_ptr<HttpsSession>> live;
  {
    std::lock_guard lock(mu);
    live.reserve(sessions.size());
    for (auto& [_, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) fn(*s);
}

HttpsListener::HttpsListener(HttpsListenerOptions options, SSL_CTX* ctx, Handler handler,
                             ErrorBody error_body, RejectObserver on_reject,
                             ElasticThreadPool* pool)
    : impl_(std::make_unique<Impl>(std::move(options), ctx, std::move(handler),
                                   std::move(error_body), std::move(on_reject), pool)) {
  auto& m = *impl_;
  beast::error_code ec;
  const auto address = asio::ip::make_address(m.options.host, ec);
  if (ec) throw std::runtime_error("not an IP address: " + m.options.host);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(m.options.port));
  m.acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: SO_REUSEPORT would let a second instance bind the same port silently.
  if (!ec) m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(endpoint, ec);
  if (!ec) m.acceptor.listen(m.options.backlog, ec);
  if (ec) throw std::runtime_error(ec.message());
  m.port = m.acceptor.local_endpoint().port();
}

HttpsListener::~HttpsListener() {
  stop();
}

int HttpsListener::port() const {
  return impl_->port;
}

void HttpsListener::start() {
  auto& m = *impl_;
  if (!m.threads.empty()) return;
  for (auto& ioc : m.iocs) m.work.emplace_back(ioc->get_executor());
  asio::dispatch(m.acceptor.get_executor(), [&m] { m.accept(); });
  for (auto& ioc : m.iocs) m.threads.emplace_back([&ioc] { ioc->run(); });
}

void HttpsListener::stop_accepting() {
  auto& m = *impl_;
  std::promise<void> done;
  auto closed = done.get_future();
  asio::dispatch(m.acceptor.get_executor(), [&m, &done] {
    beast::error_code ec;
    m.acceptor.close(ec);
    m.accept_retry.cancel();
    done.set_value();
  });
  if (m.threads.empty()) {
    m.iocs.front()->poll();  // not started: run the close here
  }
  closed.wait();
}

void HttpsListener::close_idle() {
  impl_->draining = true;
  impl_->for_each_session([](HttpsSession& s) { s.close_if_idle(); });
}

size_t HttpsListener::close_all() {
  size_t n = 0;
  impl_->for_each_session([&n](HttpsSession& s) {
    s.close_now();
    ++n;
  });
  return n;
}

size_t HttpsListener::open_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->sessions.size();
}

void HttpsListener::stop() {
  auto& m = *impl_;
  if (m.threads.empty()) return;
  m.work.clear();
  for (auto& ioc : m.iocs) ioc->stop();
  for (auto& t : m.threads) t.join();
  m.threads.clear();
}

}  // namespace exportgate::webhook
