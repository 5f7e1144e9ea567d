// exec credential plugins (see exec_credential.hpp).
#include "webhook/exec_credential.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "webhook/kube_config.hpp"
#include "webhook/rfc3339.hpp"
#include "webhook/unique_fd.hpp"

extern char** environ;

namespace exportgate::webhook {

namespace {

using Clock = std::chrono::steady_clock;

// Reads both pipes until the child closes them or the deadline passes.
bool read_all(int out_fd, int err_fd, std::string& out, std::string& err,
              Clock::time_point deadline) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open = 2;
  char buf[4096];
  while (open > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        std::string& dst = i == 0 ? out : err;
        if (dst.size() < (1u << 20)) dst.append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  return true;
}

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

}  // namespace

ExecToken run_exec_plugin(const ExecPlugin& plugin, std::chrono::milliseconds timeout) {
  const std::string who = plugin.where + ": exec plugin " + plugin.command;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw KubeConfigError(who + ": pipe: " + strerror(errno));
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw KubeConfigError(who + ": pipe: " + strerror(errno));
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);  // never interactive
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);

  // The environment: ours, the plugin's `env`, and KUBERNETES_EXEC_INFO.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool overridden = key == "KUBERNETES_EXEC_INFO";
    for (const auto& [k, _] : plugin.env) overridden |= k == key;
    if (!overridden) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : plugin.env) env_strings.push_back(k + "=" + v);
  const nlohmann::json info = {{"apiVersion", plugin.api_version},
                               {"kind", "ExecCredential"},
                               {"spec", {{"interactive", false}}}};
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + info.dump());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = {plugin.command};
  argv_strings.insert(argv_strings.end(), plugin.args.begin(), plugin.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  const int rc =
      ::posix_spawnp(&pid, plugin.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw KubeConfigError(who + ": cannot run it: " + strerror(rc));
  out_w.reset();
  err_w.reset();

  std::string out, err;
  const bool finished = read_all(out_r.get(), err_r.get(), out, err, Clock::now() + timeout);
  if (!finished) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!finished) {
    throw KubeConfigError(who + ": no answer within " + std::to_string(timeout.count()) + " ms");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw KubeConfigError(who + ": failed (" +
                          (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                             : "signal " + std::to_string(WTERMSIG(status))) +
                          "): " + first_line(err));
  }
  nlohmann::json cred;
  try {
    cred = nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception&) {
    throw KubeConfigError(who + ": output is not an ExecCredential (JSON): " + first_line(out));
  }
  if (!cred.is_object() || cred.value("kind", "") != "ExecCredential") {
    throw KubeConfigError(who + ": output is not an ExecCredential");
  }
  if (cred.value("apiVersion", "") != plugin.api_version) {
    throw KubeConfigError(who + ": answered apiVersion " + cred.value("apiVersion", "(none)") +
                          ", asked for " + plugin.api_version);
  }
  const auto status_it = cred.find("status");
  if (status_it == cred.end() || !status_it->is_object()) {
    throw KubeConfigError(who + ": ExecCredential without status");
  }
  ExecToken t;
  t.token = status_it->value("token", "");
  if (t.token.empty()) {
    throw KubeConfigError(who +
                          ": ExecCredential without status.token (client certificates "
                          "from plugins are not supported)");
  }
  if (auto exp = status_it->value("expirationTimestamp", ""); !exp.empty()) {
    t.expiry = parse_time(exp);
    if (!t.expiry) throw KubeConfigError(who + ": bad expirationTimestamp \"" + exp + "\"");
  }
  return t;
}

std::string ExecCredentials::token() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::system_clock::now();
  // Refreshed a minute ahead, so a request never carries a token that expires on the way.
  if (cached_ && (!cached_->expiry || now + std::chrono::minutes(1) < *cached_->expiry)) {
    return cached_->token;
  }
  cached_.reset();
  ++runs_;
  cached_ = run_exec_plugin(plugin_, timeout_);
  return cached_->token;
}

void ExecCredentials::invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
}

int ExecCredentials::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

}  // namespace exportgate::webhook
