// Where the Kubernetes API is and how to authenticate to it: a kubeconfig file (token, client
// certificate, CA; files or inline *-data) or the in-cluster service account.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "webhook/exec_credential.hpp"

namespace exportgate::webhook {

// A kubeconfig or service-account setup that cannot be used; what() names the file and field.
class KubeConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct KubeConfig {
  std::string scheme = "https";  // "https" or "http"
  std::string host;              // "127.0.0.1", "kubernetes.default.svc"
  int port = 443;
  std::string ca_pem;  // trusted CAs (PEM); "" = system default store
  bool insecure_skip_verify = false;
  std::string token;       // bearer token given inline
  std::string token_file;  // bearer token read from this file (rotated service-account tokens)
  std::shared_ptr<ExecCredentials> exec;  // an exec credential plugin (managed clusters)
  std::string client_cert_pem;            // client certificate (PEM), with client_key_pem
  std::string client_key_pem;
  std::string namespace_;  // the context's (or the pod's) namespace; "" when none
  std::string origin;      // "kubeconfig /path (context e2e)" / "in-cluster", for logs

  // The bearer token to send now: `token`, else the current content of `token_file`, else the
  // exec plugin's (cached until it nears expiry), else "". Throws KubeConfigError when
  // token_file cannot be read or the plugin fails.
  std::string bearer_token() const;
};

// Parses a kubeconfig file: current-context (or `context` when given), its cluster (server,
// certificate-authority[-data], insecure-skip-tls-verify) and user (token, tokenFile,
// client-certificate[-data], client-key[-data], exec). Relative paths are relative to the file.
// Throws KubeConfigError for anything missing or unsupported (auth-provider plugins, exec
// plugins that need a terminal).
KubeConfig load_kubeconfig(const std::filesystem::path& file, const std::string& context = "");

// The service account of the pod we run in: KUBERNETES_SERVICE_HOST/PORT and the files under
// `sa_dir` (token, ca.crt, namespace). Throws KubeConfigError when not in a cluster.
KubeConfig load_in_cluster(
    const std::filesystem::path& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Splits "https://host:port" (IPv6 in brackets; default port by scheme) into `config`.
// Throws KubeConfigError.
void set_server_url(KubeConfig& config, const std::string& url);

}  // namespace exportgate::webhook
