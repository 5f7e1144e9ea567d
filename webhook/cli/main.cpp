// exportgate: one binary, subcommands (see DESIGN.md "External contract").
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "webhook/commands.hpp"

namespace {

constexpr std::string_view kUsage =
    "exportgate — admission control for export-controlled AI compute\n"
    "\n"
    "Usage:\n"
    "  exportgate serve [flags]             run the admission webhook (TLS)\n"
    "  exportgate check -f FILE|- [flags]   evaluate manifests offline\n"
    "  exportgate policy validate FILE      check a policy file\n"
    "  exportgate policy diff A B           what changes between two policies or presets\n"
    "  exportgate audit [flags]             evaluate what runs in a cluster against a policy\n"
    "  exportgate log verify FILE...        check the hash chain of a decision log\n"
    "  exportgate catalog [-o text|json]    list accelerators with TPP and class\n"
    "  exportgate version\n"
    "\n"
    "Run `exportgate COMMAND --help` for the flags of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace exportgate::cli;
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const Args args(argv + 2, argv + argc);
  try {
    if (command == "serve") return run_serve(args);
    if (command == "check") return run_check(args);
    if (command == "policy") return run_policy(args);
    if (command == "audit") return run_audit(args);
    if (command == "log") return run_log(args);
    if (command == "catalog") return run_catalog(args);
    if (command == "version" || command == "--version") return run_version(args);
    if (command == "help" || command == "--help" || command == "-h") {
      std::cout << kUsage;
      return 0;
    }
  } catch (const std::exception& e) {
    // Subcommands report their own errors; this is the last line against a crash.
    std::cerr << "exportgate " << command << ": " << e.what() << "\n";
    return 2;
  }
  std::cerr << "exportgate: unknown command \"" << command << "\"\n\n" << kUsage;
  return 2;
}
