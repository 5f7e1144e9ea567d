// kubeconfig `exec` credential plugins (client.authentication.k8s.io ExecCredential), as managed
// clusters use them (gke-gcloud-auth-plugin, aws eks get-token, kubelogin): the plugin is run
// without a terminal, its bearer token cached until shortly before its expirationTimestamp, and
// run again then, or when the API server answers 401.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace exportgate::webhook {

struct ExecPlugin {
  std::string api_version;  // client.authentication.k8s.io/v1 or v1beta1
  std::string command;      // a path (relative ones resolved against the kubeconfig) or a name
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string where;  // "kubeconfig FILE user NAME", for errors
};

struct ExecToken {
  std::string token;
  std::optional<std::chrono::system_clock::time_point> expiry;  // none: valid until a 401
};

// Runs the plugin once (stdin closed, KUBERNETES_EXEC_INFO set, bounded by `timeout`) and reads
// its ExecCredential. Throws KubeConfigError naming the plugin and what went wrong.
ExecToken run_exec_plugin(const ExecPlugin& plugin, std::chrono::milliseconds timeout);

// The token of one plugin, shared by every request of a client. Thread-safe.
class ExecCredentials {
 public:
  explicit ExecCredentials(ExecPlugin plugin,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20))
      : plugin_(std::move(plugin)), timeout_(timeout) {}
  // The cached token, or a fresh one when there is none or it expires within a minute (or has
  // expired). Throws KubeConfigError.
  std::string token();
  // The API server refused the token: the next token() runs the plugin again.
  void invalidate();
  int runs() const;

 private:
  ExecPlugin plugin_;
  std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::optional<ExecToken> cached_;
  int runs_ = 0;
};

}  // namespace exportgate::webhook
