// Flag parsing for `exportgate serve` (see serve_options.hpp).
#include "webhook/serve_options.hpp"

#include <charconv>
#include <limits>

#include "policy/jurisdictions.hpp"
#include "policy/tenancy.hpp"
#include "webhook/cli_args.hpp"
#include "webhook/cli_input.hpp"

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
    "  --in-force-on DATE|today    select the rules in force on DATE (YYYY-MM-DD), overriding the\n"
    "                              policy's inForceOn (preset current: those rules)\n"
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
    "  --decision-log FILE         append every deny and warn to FILE as hash-chained JSON\n"
    "                              lines (check with `exportgate log verify`)\n"
    "  --decision-log-all          also record allowed requests that ask for accelerators\n"
    "  --decision-log-max-bytes N  rotate FILE to FILE.000001, ... before it passes N bytes\n"
    "                              (default 67108864; 0 = never)\n"
    "  --help                      this help\n"
    "\n"
    "Cluster mode (usage shared by all replicas in TPPLedger objects, namespace labels,\n"
    "node models and pod usage from watches; see docs/cluster-mode.md):\n"
    "  --in-cluster                use the pod's service account\n"
    "  --kubeconfig FILE           use this kubeconfig (token or client certificate)\n"
    "  --ledger-namespace NS       where TPPLedgers and the Lease live (default: the pod's\n"
    "                              namespace in-cluster, else exportgate-system)\n"
    "  --identity NAME             Lease holder identity (default hostname-pid)\n"
    "  --ledger-unavailable deny|allow  capped requests when the ledger cannot be written\n"
    "                              (default deny)\n"
    "  --ledger-timeout SECONDS    a reservation gives up after this (default 3)\n"
    "  --lease-duration SECONDS    reconciler Lease duration (default 15)\n"
    "  --reconcile-interval SECONDS  reconciler period (default 5)\n"
    "  --reservation-ttl SECONDS   unclaimed reservations are dropped after this (default 30)\n"
    "  --audit-interval DURATION   background audit period while holding the Lease, e.g. 30s,\n"
    "                              5m, 1h or plain seconds (default 5m; 0 disables)\n"
    "  --kueue-admission-check     serve Kueue AdmissionChecks with controllerName\n"
    "                              exportgate.io/tpp (docs/kueue.md)\n"
    "  --kueue-interval SECONDS    how often waiting Workloads are judged again (default 5)\n";

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

// "90", "30s", "5m", "1h", "1.5m": a non-negative duration up to a day.
std::chrono::milliseconds parse_duration(const std::string& flag, const std::string& value) {
  double scale = 1;
  std::string number = value;
  if (!number.empty()) {
    switch (number.back()) {
      case 's':
        number.pop_back();
        break;
      case 'm':
        scale = 60;
        number.pop_back();
        break;
      case 'h':
        scale = 3600;
        number.pop_back();
        break;
      default:
        break;
    }
  }
  double d = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), d);
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() || d < 0 ||
      d * scale > 86400 || (d > 0 && d * scale < 1)) {
    throw UsageError(flag + ": expected 0 or a duration between 1s and 24h such as 30s, 5m, 1h, " +
                     "got \"" + value + "\"");
  }
  return std::chrono::milliseconds(static_cast<long long>(d * scale * 1000));
}

}  // namespace

ServeCommand parse_serve_args(const std::vector<std::string>& args) {
  ServeCommand cmd;
  auto& o = cmd.options;
  std::string cluster_flag;       // a flag that only means something in cluster mode
  std::string decision_log_flag;  // a --decision-log-* flag, which needs --decision-log
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
    } else if (flag == "--in-force-on") {
      o.policy.in_force_on = next();
      if (auto problem = cli::in_force_flag_problem(o.policy.in_force_on); !problem.empty()) {
        throw UsageError(problem);
      }
    } else if (flag == "--tenant-namespace") {
      std::string v = next();
      auto tn = policy::parse_namespace_tenant(v);
      if (!tn) throw UsageError(cli::tenant_namespace_error(v));
      o.policy.tenant_namespaces.push_back(std::move(*tn));
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
    } else if (flag == "--decision-log") {
      cmd.decision_log.path = next();
      if (cmd.decision_log.path.empty()) throw UsageError("--decision-log needs a file name");
    } else if (flag == "--decision-log-all") {
      if (has_inline) throw UsageError("--decision-log-all takes no value");
      cmd.decision_log.record_allows = true;
      decision_log_flag = flag;
    } else if (flag == "--decision-log-max-bytes") {
      const long long n = parse_integer(flag, next(), 0, 1LL << 50);
      if (n != 0 && n < 1024) throw UsageError("--decision-log-max-bytes: 0 or at least 1024");
      cmd.decision_log.max_bytes = static_cast<uint64_t>(n);
      decision_log_flag = flag;
    } else if (flag == "--in-cluster") {
      if (has_inline) throw UsageError("--in-cluster takes no value");
      o.cluster.in_cluster = true;
    } else if (flag == "--kubeconfig") {
      o.cluster.kubeconfig = next();
      if (o.cluster.kubeconfig.empty()) throw UsageError("--kubeconfig needs a file name");
    } else if (flag == "--ledger-namespace") {
      o.cluster.ledger_namespace = next();
      cluster_flag = flag;
    } else if (flag == "--identity") {
      o.cluster.identity = next();
      cluster_flag = flag;
    } else if (flag == "--ledger-unavailable") {
      std::string v = next();
      if (v != "deny" && v != "allow") {
        throw UsageError("--ledger-unavailable: expected deny or allow, got \"" + v + "\"");
      }
      o.cluster.allow_when_ledger_unavailable = v == "allow";
      cluster_flag = flag;
    } else if (flag == "--ledger-timeout") {
      o.cluster.ledger_timeout = parse_seconds(flag, next(), 0.1, 30);
      cluster_flag = flag;
    } else if (flag == "--lease-duration") {
      o.cluster.lease_duration = std::chrono::seconds(parse_integer(flag, next(), 2, 3600));
      cluster_flag = flag;
    } else if (flag == "--reconcile-interval") {
      o.cluster.reconcile_interval = parse_seconds(flag, next(), 0.1, 3600);
      cluster_flag = flag;
    } else if (flag == "--audit-interval") {
      o.cluster.audit_interval = parse_duration(flag, next());
      cluster_flag = flag;
    } else if (flag == "--kueue-admission-check") {
      o.cluster.kueue_admission_check = true;
      cluster_flag = flag;
    } else if (flag == "--kueue-interval") {
      o.cluster.kueue_interval = parse_seconds(flag, next(), 0.1, 3600);
      cluster_flag = flag;
    } else if (flag == "--reservation-ttl") {
      o.cluster.reservation_ttl = std::chrono::seconds(parse_integer(flag, next(), 1, 86400));
      cluster_flag = flag;
    } else {
      throw UsageError("unknown flag \"" + args[i] + "\"");
    }
  }
  if (!decision_log_flag.empty() && cmd.decision_log.path.empty()) {
    throw UsageError(decision_log_flag + " needs --decision-log FILE");
  }
  if (o.cluster.in_cluster && !o.cluster.kubeconfig.empty()) {
    throw UsageError("--in-cluster and --kubeconfig are exclusive");
  }
  if (!cluster_flag.empty() && !o.cluster.enabled()) {
    throw UsageError(cluster_flag + " needs cluster mode (--in-cluster or --kubeconfig)");
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
