// `exportgate serve`: starts the webhook, and drains it on SIGTERM/SIGINT.
#include <signal.h>

#include <iostream>

#include "webhook/allocator.hpp"
#include "webhook/commands.hpp"
#include "webhook/decision_log.hpp"
#include "webhook/metrics.hpp"
#include "webhook/serve_options.hpp"
#include "webhook/server.hpp"

namespace exportgate::cli {

namespace {

using namespace exportgate::webhook;

int run_serve(ServeCommand cmd) {
  // Before any thread starts (glibc reads the settings without locking).
  tune_allocator();
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
    // A decision log that cannot be opened or continued is a start-up error, not a silent gap.
    std::shared_ptr<DecisionLog> decision_log;
    if (!cmd.decision_log.path.empty()) {
      cmd.decision_log.version = EXPORTGATE_VERSION;
      decision_log = std::make_shared<DecisionLog>(cmd.decision_log);
      cmd.options.decision_sink = decision_log;
    }
    Server server(cmd.options);
    if (decision_log) decision_log->attach(&server.logger(), server.metrics().registry().get());
    // The log writes through the server's Logger and counters: close it before `server` is
    // destroyed on every way out of this scope, including start() throwing (port in use).
    struct CloseFirst {
      DecisionLog* log;
      ~CloseFirst() {
        if (!log) return;
        log->close();
        log->detach();
      }
    } close_first{decision_log.get()};
    server.start();
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.logger().info("signal received", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    server.shutdown();
    if (decision_log) decision_log->close();  // after the drain, so every decision is in it
  } catch (const DecisionLogError& e) {
    std::cerr << "exportgate serve: " << e.what() << "\n";
    return 2;
  } catch (const StartupError& e) {
    std::cerr << "exportgate serve: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

void add_serve(CLI::App& root, Action& action) {
  CLI::App* serve =
      add_command(root, "serve", "run the admission webhook (HTTPS; docs/operations.md)");
  auto command = define_serve_flags(*serve);
  serve->parse_complete_callback([&action, command] {
    // The combinations are checked when the action runs, inside the usage-error handling.
    action = [command] { return run_serve(command()); };
  });
}

}  // namespace exportgate::cli
