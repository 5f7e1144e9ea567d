// Flag parsing for `exportgate serve` (see serve_options.hpp).
#include "webhook/serve_options.hpp"

#include <charconv>
#include <limits>

#include "policy/jurisdictions.hpp"

namespace exportgate::webhook {

const char* const kServeUsage =
    "Usage: exportgate serve [flags]\n"
    "\n"
    "Runs the admission webhook (HTTPS: POST /validate, POST /mutate, GET /healthz, GET /readyz).\n"
    "With no flags: the embedded diffusion-2025 preset, a self-signed certificate, an in-memory\n"
    "usage ledger, HTTPS on 127.0.0.1:8443 and metrics on 127.0.0.1:9090.\n"
    "\n"
    "Flags:\n"
    "  --listen HOST:PORT          HTTPS address (default 127.0.0.1:8443)\n"
    "  --metrics-listen HOST:PORT  metrics address (default 127.0.0.1:9090; \"\" disables)\n"
    "  --policy FILE               policy file, reloaded when it changes (default: embedded\n"
    "                              diffusion-2025 preset)\n"
    "  --tls-cert FILE             serving certificate (PEM, leaf first), reloaded on change\n"
    "  --tls-key FILE              its private key (PEM)\n"
    "  --client-ca FILE            require client certificates signed by these CAs\n"
    "  --dns-name NAME             extra SAN for the self-signed certificate (repeatable)\n"
    "  --tenant-namespace NS=CC    treat namespace NS as a tenant in jurisdiction CC (repeatable)\n"
    "  --threads N                 maximum worker threads, one per open connection (default 512)\n"
    "  --max-body-bytes N          largest request body accepted (default 3145728)\n"
    "  --read-timeout SECONDS      per-read timeout while receiving a request (default 10)\n"
    "  --write-timeout SECONDS     per-write timeout while sending a response (default 10)\n"
    "  --request-timeout SECONDS   a started request must arrive within this (default 30)\n"
    "  --keep-alive-timeout SECONDS  idle keep-alive connections close after this (default 120)\n"
    "  --shutdown-delay SECONDS    on SIGTERM, fail readiness this long before draining\n"
    "                              (default 0)\n"
    "  --reload-interval SECONDS   how often files are checked for changes (default 1)\n"
    "  --log-level LEVEL           debug|info|warn|error (default info)\n"
    "  --help                      this help\n";

namespace {

long long parse_integer(const std::string& flag, const std::string& value, long long min,
                        long long max) {
  long long n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min || n > max) {
    throw UsageError(flag + ": expected an integer between " + std::to_string(min) + " and " +
                     std::to_string(max) + ", got \"" + value + "\"");
  }
  return n;
}

std::chrono::milliseconds parse_seconds(const std::string& flag, const std::string& value,
                                        double min, double max) {
  double d = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
  if (ec != std::errc() || ptr != value.data() + value.size() || d < min || d > max) {
    throw UsageError(flag + ": expected seconds between " + std::to_string(min) + " and " +
                     std::to_string(max) + ", got \"" + value + "\"");
  }
  return std::chrono::milliseconds(static_cast<long long>(d * 1000));
}

void parse_host_port(const std::string& flag, const std::string& value, std::string& host,
                     int& port) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw UsageError(flag + ": expected HOST:PORT, got \"" + value + "\"");
  }
  host = value.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  port = static_cast<int>(parse_integer(flag + " port", value.substr(colon + 1), 0, 65535));
}

}  // namespace

ServeCommand parse_serve_args(const std::vector<std::string>& args) {
  ServeCommand cmd;
  auto& o = cmd.options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline = true;
    }
    auto next = [&]() -> std::string {
      if (has_inline) return value;
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value");
      return args[++i];
    };
    if (flag == "--help" || flag == "-h") {
      cmd.help = true;
    } else if (flag == "--listen") {
      parse_host_port(flag, next(), o.host, o.port);
    } else if (flag == "--metrics-listen") {
      std::string v = next();
      if (!v.empty()) {
        std::string host;
        int port = 0;
        parse_host_port(flag, v, host, port);
      }
      o.metrics_listen = v;
    } else if (flag == "--policy") {
      o.policy.file = next();
      if (o.policy.file.empty()) throw UsageError("--policy needs a file name");
    } else if (flag == "--tls-cert") {
      o.tls_cert = next();
    } else if (flag == "--tls-key") {
      o.tls_key = next();
    } else if (flag == "--client-ca") {
      o.client_ca = next();
    } else if (flag == "--dns-name") {
      std::string v = next();
      if (v.empty()) throw UsageError("--dns-name needs a name");
      o.dns_names.push_back(v);
    } else if (flag == "--tenant-namespace") {
      std::string v = next();
      auto eq = v.find('=');
      std::string code =
          eq == std::string::npos ? "" : policy::normalize_jurisdiction_code(v.substr(eq + 1));
      if (eq == std::string::npos || eq == 0 || code.empty() || !policy::find_jurisdiction(code)) {
        throw UsageError(
            "--tenant-namespace: expected NAMESPACE=CC with an ISO 3166-1 alpha-2 "
            "code, got \"" +
            v + "\"");
      }
      o.policy.tenant_namespaces.push_back({v.substr(0, eq), code});
    } else if (flag == "--threads") {
      o.max_threads = static_cast<size_t>(parse_integer(flag, next(), 1, 65536));
      o.min_threads = std::min(o.min_threads, o.max_threads);
    } else if (flag == "--max-body-bytes") {
      o.max_body_bytes =
          static_cast<size_t>(parse_integer(flag, next(), 1024, 1024LL * 1024 * 1024));
    } else if (flag == "--read-timeout") {
      o.read_timeout = parse_seconds(flag, next(), 0.01, 3600);
    } else if (flag == "--write-timeout") {
      o.write_timeout = parse_seconds(flag, next(), 0.01, 3600);
    } else if (flag == "--request-timeout") {
      o.request_timeout = parse_seconds(flag, next(), 0.1, 3600);
    } else if (flag == "--keep-alive-timeout") {
      o.keep_alive_timeout_seconds = static_cast<int>(parse_integer(flag, next(), 1, 3600));
    } else if (flag == "--shutdown-delay") {
      o.shutdown_delay = parse_seconds(flag, next(), 0, 600);
    } else if (flag == "--reload-interval") {
      o.reload_interval = parse_seconds(flag, next(), 0.05, 3600);
    } else if (flag == "--log-level") {
      std::string v = next();
      auto level = parse_log_level(v);
      if (!level)
        throw UsageError("--log-level: expected debug|info|warn|error, got \"" + v + "\"");
      o.log_level = *level;
    } else if (flag == "--in-cluster" || flag == "--kubeconfig") {
      throw UsageError(flag +
                       " is not yet supported: this build runs standalone only (tenants "
                       "from --policy or --tenant-namespace)");
    } else {
      throw UsageError("unknown flag \"" + args[i] + "\"");
    }
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    throw UsageError("--tls-cert and --tls-key must be given together");
  }
  if (!o.tls_cert.empty() && !o.dns_names.empty()) {
    throw UsageError(
        "--dns-name applies to the generated certificate only; the names of "
        "--tls-cert come from that file");
  }
  return cmd;
}

}  // namespace exportgate::webhook
