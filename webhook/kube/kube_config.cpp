// kubeconfig and in-cluster credentials (see kube_config.hpp).
#include "webhook/kube_config.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "webhook/base64.hpp"

namespace exportgate::webhook {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KubeConfigError("cannot read " + what + " " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

// Standard base64 as kubeconfig *-data fields use; throws on bad input.
std::string decode_data(const std::string& in, const std::string& field) {
  auto out = base64_decode(in);
  if (!out) throw KubeConfigError(field + ": not valid base64");
  return *out;
}

// The entry of a named list (`clusters`, `users`, `contexts`) with `name`, or an undefined node.
YAML::Node named(const YAML::Node& root, const char* list, const std::string& name) {
  const YAML::Node items = root[list];
  if (items && items.IsSequence()) {
    for (const auto& item : items) {
      if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string scalar(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

// `<key>-data` (base64) or `<key>` (a file path, relative to the kubeconfig's directory).
std::string data_or_file(const YAML::Node& n, const std::string& key, const fs::path& base,
                         const std::string& where) {
  if (auto data = scalar(n, (key + "-data").c_str()); !data.empty()) {
    return decode_data(data, where + "." + key + "-data");
  }
  if (auto file = scalar(n, key.c_str()); !file.empty()) {
    fs::path p(file);
    if (p.is_relative()) p = base / p;
    return read_file(p, where + "." + key);
  }
  return "";
}

// users[].user.exec: the plugin and how to run it.
std::shared_ptr<ExecCredentials> exec_plugin(const YAML::Node& exec, const fs::path& base,
                                             const std::string& where,
                                             const std::string& user_name) {
  ExecPlugin p;
  p.where = where + " user \"" + user_name + "\"";
  p.api_version = scalar(exec, "apiVersion");
  if (p.api_version != "client.authentication.k8s.io/v1" &&
      p.api_version != "client.authentication.k8s.io/v1beta1") {
    throw KubeConfigError(p.where + ": exec apiVersion \"" + p.api_version +
                          "\" (want client.authentication.k8s.io/v1 or v1beta1)");
  }
  p.command = scalar(exec, "command");
  if (p.command.empty()) throw KubeConfigError(p.where + ": exec without command");
  // As kubectl: a relative path with a directory is relative to the kubeconfig's directory; a
  // bare name is looked up in PATH.
  if (fs::path cmd(p.command); cmd.is_relative() && p.command.find('/') != std::string::npos) {
    p.command = (base / cmd).string();
  }
  if (const YAML::Node args = exec["args"]; args && args.IsSequence()) {
    for (const auto& a : args) p.args.push_back(a.as<std::string>());
  }
  if (const YAML::Node env = exec["env"]; env && env.IsSequence()) {
    for (const auto& e : env) p.env.emplace_back(scalar(e, "name"), scalar(e, "value"));
  }
  if (scalar(exec, "interactiveMode") == "Always") {
    throw KubeConfigError(p.where +
                          ": exec plugin needs a terminal (interactiveMode Always); "
                          "exportgate runs it without one");
  }
  return std::make_shared<ExecCredentials>(std::move(p));
}

}  // namespace

std::string KubeConfig::bearer_token() const {
  if (!token.empty()) return token;
  if (!token_file.empty()) return trim(read_file(token_file, "token file"));
  if (exec) return exec->token();
  return "";
}

void set_server_url(KubeConfig& config, const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) throw KubeConfigError("server \"" + url + "\": expected a URL");
  config.scheme = url.substr(0, sep);
  if (config.scheme != "https" && config.scheme != "http") {
    throw KubeConfigError("server \"" + url + "\": scheme must be https or http");
  }
  std::string rest = url.substr(sep + 3);
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") {
      throw KubeConfigError("server \"" + url + "\": a path prefix is not supported");
    }
    rest.resize(slash);
  }
  config.port = config.scheme == "https" ? 443 : 80;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) throw KubeConfigError("server \"" + url + "\": bad IPv6");
    config.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    config.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    config.host = rest;
  }
  if (!port.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p <= 0 || p > 65535) {
      throw KubeConfigError("server \"" + url + "\": bad port");
    }
    config.port = p;
  }
  if (config.host.empty()) throw KubeConfigError("server \"" + url + "\": no host");
}

KubeConfig load_kubeconfig(const fs::path& file, const std::string& context) {
  const std::string where = "kubeconfig " + file.string();
  YAML::Node root;
  try {
    root = YAML::Load(read_file(file, "kubeconfig"));
  } catch (const YAML::Exception& e) {
    throw KubeConfigError(where + ": " + e.what());
  }
  if (!root.IsMap()) throw KubeConfigError(where + ": not a kubeconfig (expected a map)");
  const fs::path base = file.parent_path();
  try {
    const std::string ctx_name = context.empty() ? scalar(root, "current-context") : context;
    if (ctx_name.empty()) throw KubeConfigError(where + ": no current-context");
    const YAML::Node ctx = named(root, "contexts", ctx_name)["context"];
    if (!ctx) throw KubeConfigError(where + ": no context named \"" + ctx_name + "\"");
    const std::string cluster_name = scalar(ctx, "cluster");
    const YAML::Node cluster = named(root, "clusters", cluster_name)["cluster"];
    if (!cluster) throw KubeConfigError(where + ": no cluster named \"" + cluster_name + "\"");
    const std::string user_name = scalar(ctx, "user");
    const YAML::Node user = named(root, "users", user_name)["user"];

    KubeConfig c;
    c.origin = where + " (context " + ctx_name + ")";
    c.namespace_ = scalar(ctx, "namespace");
    const std::string server = scalar(cluster, "server");
    if (server.empty())
      throw KubeConfigError(where + ": cluster \"" + cluster_name + "\" has no server");
    set_server_url(c, server);
    c.ca_pem = data_or_file(cluster, "certificate-authority", base, where + " cluster");
    c.insecure_skip_verify = scalar(cluster, "insecure-skip-tls-verify") == "true";
    if (user) {
      if (user["auth-provider"]) {
        throw KubeConfigError(where + ": user \"" + user_name +
                              "\" uses an auth-provider plugin (removed from kubectl in 1.26), "
                              "which exportgate does not run; use an exec plugin, a token or a "
                              "client certificate");
      }
      if (const YAML::Node exec = user["exec"]) c.exec = exec_plugin(exec, base, where, user_name);
      c.token = scalar(user, "token");
      if (auto tf = scalar(user, "tokenFile"); !tf.empty()) {
        fs::path p(tf);
        c.token_file = (p.is_relative() ? base / p : p).string();
      }
      c.client_cert_pem = data_or_file(user, "client-certificate", base, where + " user");
      c.client_key_pem = data_or_file(user, "client-key", base, where + " user");
      if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
        throw KubeConfigError(where + ": user \"" + user_name +
                              "\" needs both client-certificate and client-key");
      }
    }
    return c;
  } catch (const YAML::Exception& e) {
    throw KubeConfigError(where + ": " + e.what());
  }
}

KubeConfig load_in_cluster(const fs::path& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    throw KubeConfigError(
        "--in-cluster: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not running "
        "in a pod?)");
  }
  KubeConfig c;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  set_server_url(c, "https://" + h + ":" + port);
  c.origin = "in-cluster service account (" + sa_dir.string() + ")";
  c.token_file = (sa_dir / "token").string();
  c.ca_pem = read_file(sa_dir / "ca.crt", "service-account CA");
  (void)c.bearer_token();  // fails now rather than on the first request
  std::ifstream ns(sa_dir / "namespace");
  if (ns) std::getline(ns, c.namespace_);
  return c;
}

}  // namespace exportgate::webhook
