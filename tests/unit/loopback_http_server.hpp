// A plain-HTTP cpp-httplib server on 127.0.0.1 (any free port) running on its own thread for the
// life of the object: the API server stand-in of the unit tests that need exact answers (an
// expired continue token, a 403) which the real one in the e2e suite cannot be made to give.
#pragma once

#include <httplib.h>

#include <chrono>
#include <thread>

#include "webhook/kube_config.hpp"

namespace exportgate::testing {

class LoopbackHttpServer {
 public:
  // Register routes on server() before start().
  httplib::Server& server() { return server_; }
  void start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackHttpServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  // A KubeClient configuration that talks to this server.
  webhook::KubeConfig kube_config() const {
    webhook::KubeConfig c;
    c.scheme = "http";
    c.host = "127.0.0.1";
    c.port = port_;
    return c;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace exportgate::testing
