// The transport ceiling of the load benchmark: webhook::Server, configured as `exportgate serve`
// configures it (same TLS, thread pool, limits, routes), with POST /constant enabled. Answering
// a fixed response there measures everything but the admission work. A separate binary keeps
// the benchmark-only endpoint out of the product's command line.
// Usage: transport_ceiling PORT   (0 = any free port; the port is printed on stdout)
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "webhook/server.hpp"

int main(int argc, char** argv) {
  using namespace exportgate::webhook;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServerOptions options;  // the defaults of `exportgate serve`
  options.port = argc > 1 ? std::atoi(argv[1]) : 0;
  options.metrics_listen = "";
  options.constant_endpoint = true;
  std::ostringstream quiet;  // start-up logs are not wanted on the benchmark's output
  options.log_stream = &quiet;
  try {
    Server server(options);
    server.start();
    std::cout << server.port() << std::endl;
    int sig = 0;
    sigwait(&stop, &sig);
    server.shutdown();
  } catch (const StartupError& e) {
    std::cerr << "transport_ceiling: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
