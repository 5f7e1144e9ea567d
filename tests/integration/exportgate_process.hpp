// The exportgate binary as a child process, for the tests that run it as a user or a Pod would:
// posix_spawn with stdin, stdout and stderr on files, a working directory and extra environment.
// The object owns the process: one not waited for is killed (SIGKILL) and reaped when the object
// goes away, so that a failed assertion leaves no server behind.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace eg_test {

using Env = std::vector<std::pair<std::string, std::string>>;

struct ProcessOptions {
  std::string stdin_file = "";  // "" = this process's stdin
  std::string stdout_file = "/dev/null";
  std::string stderr_file = "/dev/null";
  std::string cwd = "";  // "" = this process's
  Env env = {};          // set in the child's environment, over this process's
};

class ExportgateProcess {
 public:
  explicit ExportgateProcess(std::vector<std::string> args, const ProcessOptions& o = {}) {
    args.insert(args.begin(), EXPORTGATE_BINARY);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings = environment(o.env);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (!o.stdin_file.empty())
      posix_spawn_file_actions_addopen(&fa, 0, o.stdin_file.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, o.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&fa, 2, o.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = -1;
      ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    }
  }
  ~ExportgateProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  ExportgateProcess(const ExportgateProcess&) = delete;
  ExportgateProcess& operator=(const ExportgateProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // The exit code, or 128 + the signal that ended it (as a shell reports it); -1 if it never ran.
  int wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  static std::vector<std::string> environment(const Env& extra) {
    std::vector<std::string> out;
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      bool replaced = false;
      for (const auto& [name, value] : extra) replaced |= entry.starts_with(name + "=");
      if (!replaced) out.push_back(entry);
    }
    for (const auto& [name, value] : extra) out.push_back(name + "=" + value);
    return out;
  }

  pid_t pid_ = -1;
  bool exited_ = false;
};

// A temporary file (with `content`) removed when the object goes away.
class TempFile {
 public:
  explicit TempFile(const std::string& content = "") {
    char name[] = "/tmp/exportgate-test-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    if (!content.empty()) {
      EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    }
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  std::string content() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

struct ExportgateRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the binary to its end from the source directory (where the tests' relative paths point),
// `input` on stdin and `env` set.
inline ExportgateRun run_exportgate(std::vector<std::string> args, const std::string& input = "",
                                    const Env& env = {}) {
  TempFile in(input), out, err;
  ExportgateProcess p(std::move(args), {.stdin_file = in.path(),
                                        .stdout_file = out.path(),
                                        .stderr_file = err.path(),
                                        .cwd = EXPORTGATE_SOURCE_DIR,
                                        .env = env});
  ExportgateRun r;
  r.exit_code = p.wait();
  r.out = out.content();
  r.err = err.content();
  return r;
}

}  // namespace eg_test
