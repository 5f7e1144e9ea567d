// exportgate: one binary with subcommands. The command line is defined in command_line.cpp
// and the cmd_*.cpp files.
#include "webhook/command_line.hpp"

int main(int argc, char** argv) {
  return exportgate::cli::run_command_line(argc, argv);
}
