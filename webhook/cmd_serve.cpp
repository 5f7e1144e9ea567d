// `exportgate serve`: parses flags, starts the webhook, and drains it on SIGTERM/SIGINT.
#include <signal.h>

#include <iostream>

#include "webhook/commands.hpp"
#include "webhook/serve_options.hpp"
#include "webhook/server.hpp"

namespace exportgate::cli {

int run_serve(const Args& args) {
  using namespace exportgate::webhook;
  ServeCommand cmd;
  try {
    cmd = parse_serve_args(args);
  } catch (const UsageError& e) {
    std::cerr << "exportgate serve: " << e.what() << "\n\n" << kServeUsage;
    return 2;
  }
  if (cmd.help) {
    std::cout << kServeUsage;
    return 0;
  }

  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // the main thread alone receives them through sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  try {
    Server server(cmd.options);
    server.start();
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.logger().info("signal received", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    server.shutdown();
  } catch (const StartupError& e) {
    std::cerr << "exportgate serve: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace exportgate::cli
