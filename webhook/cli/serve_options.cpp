// The flags of `exportgate serve` (see serve_options.hpp).
#include "webhook/serve_options.hpp"

#include <charconv>
#include <memory>

#include "policy/jurisdictions.hpp"
#include "policy/tenancy.hpp"
#include "webhook/cli_input.hpp"
#include "webhook/flag_definitions.hpp"

namespace exportgate::webhook {

namespace {

using cli::UsageError;

long long parse_integer(const std::string& flag, const std::string& value, long long min,
                        long long max) {
  long long n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min || n > max) {
    throw UsageError(flag + ": expected an integer between " + std::to_string(min) + " and " +
                         std::to_string(max) + ", got \"" + value + "\"",
                     flag);
  }
  return n;
}

std::chrono::milliseconds parse_seconds(const std::string& flag, const std::string& value,
                                        double min, double max) {
  double d = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
  if (ec != std::errc() || ptr != value.data() + value.size() || d < min || d > max) {
    throw UsageError(flag + ": expected seconds between " + std::to_string(min) + " and " +
                         std::to_string(max) + ", got \"" + value + "\"",
                     flag);
  }
  return std::chrono::milliseconds(static_cast<long long>(d * 1000));
}

void parse_host_port(const std::string& flag, const std::string& value, std::string& host,
                     int& port) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw UsageError(flag + ": expected HOST:PORT, got \"" + value + "\"", flag);
  }
  host = value.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    port = static_cast<int>(parse_integer(flag + " port", value.substr(colon + 1), 0, 65535));
  } catch (const UsageError& e) {
    throw UsageError(e.what(), flag);
  }
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
                         "got \"" + value + "\"",
                     flag);
  }
  return std::chrono::milliseconds(static_cast<long long>(d * scale * 1000));
}

// Seconds as the help shows a default: "10", "0.5".
std::string seconds_text(std::chrono::milliseconds ms) {
  const auto n = ms.count();
  std::string s = std::to_string(n / 1000);
  if (n % 1000 != 0) {
    std::string frac = std::to_string(1000 + n % 1000).substr(1);
    while (frac.back() == '0') frac.pop_back();
    s += "." + frac;
  }
  return s;
}

// What the flags set as they parse, and what their combinations are checked against after.
struct State {
  ServeCommand cmd;
  std::string cluster_flag;       // a value flag that only means something in cluster mode
  std::string decision_log_flag;  // --decision-log-max-bytes, which needs --decision-log
};

using Setter = std::function<void(State&, const std::string& flag, const std::string& value)>;

// A flag taking one value (the last when repeated), converted by `set` once parsed.
CLI::Option* value_flag(CLI::App& app, const std::shared_ptr<State>& state, const std::string& flag,
                        const std::string& type, const std::string& help, Setter set) {
  CLI::Option* opt = app.add_option_function<std::string>(
      flag, [state, flag, set](const std::string& v) { set(*state, flag, v); }, help);
  opt->type_name(type)->envname(cli::env_name(flag));
  return opt;
}

// A repeatable flag; a comma-separated list counts as that many flags (its variable's way to
// give several).
CLI::Option* list_flag(CLI::App& app, const std::shared_ptr<State>& state, const std::string& flag,
                       const std::string& type, const std::string& help, Setter add) {
  CLI::Option* opt = app.add_option_function<std::vector<std::string>>(
      flag,
      [state, flag, add](const std::vector<std::string>& values) {
        for (const auto& v : values) add(*state, flag, v);
      },
      help);
  opt->type_name(type)->envname(cli::env_name(flag))->delimiter(',');
  opt->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  return opt;
}

}  // namespace

std::function<ServeCommand()> define_serve_flags(CLI::App& app) {
  auto state = std::make_shared<State>();
  const ServerOptions d;
  const DecisionLogOptions dl;
  const std::string serving = "Serving";
  cli::add_notes(app,
                 "With no flags: the embedded diffusion-2025 preset, a self-signed certificate, "
                 "an in-memory usage ledger, HTTPS on 127.0.0.1:8443 and metrics on "
                 "127.0.0.1:9090.");

  value_flag(app, state, "--listen", "HOST:PORT", "HTTPS address",
             [](State& s, const std::string& f, const std::string& v) {
               parse_host_port(f, v, s.cmd.options.host, s.cmd.options.port);
             })
      ->default_str(d.host + ":" + std::to_string(d.port))
      ->group(serving);
  value_flag(app, state, "--metrics-listen", "HOST:PORT",
             "plain-HTTP address of GET /metrics; \"\" disables it",
             [](State& s, const std::string& f, const std::string& v) {
               if (!v.empty()) {
                 std::string host;
                 int port = 0;
                 parse_host_port(f, v, host, port);
               }
               s.cmd.options.metrics_listen = v;
             })
      ->default_str(d.metrics_listen)
      ->group(serving);
  value_flag(app, state, "--policy", "FILE",
             "policy file, reloaded when it changes (default: the embedded diffusion-2025 preset)",
             [](State& s, const std::string& f, const std::string& v) {
               if (v.empty()) throw UsageError(f + " needs a file name", f);
               s.cmd.options.policy.file = v;
             })
      ->group(serving);
  value_flag(app, state, "--tls-cert", "FILE",
             "serving certificate (PEM, leaf first), reloaded when it changes (default: a "
             "self-signed one)",
             [](State& s, const std::string&, const std::string& v) { s.cmd.options.tls_cert = v; })
      ->group(serving);
  value_flag(app, state, "--tls-key", "FILE", "the certificate's private key (PEM)",
             [](State& s, const std::string&, const std::string& v) { s.cmd.options.tls_key = v; })
      ->group(serving);
  value_flag(
      app, state, "--client-ca", "FILE", "require client certificates signed by these CAs",
      [](State& s, const std::string&, const std::string& v) { s.cmd.options.client_ca = v; })
      ->group(serving);
  list_flag(app, state, "--dns-name", "NAME",
            "extra SAN for the self-signed certificate (repeatable)",
            [](State& s, const std::string& f, const std::string& v) {
              if (v.empty()) throw UsageError(f + " needs a name", f);
              s.cmd.options.dns_names.push_back(v);
            })
      ->group(serving);
  list_flag(app, state, "--tenant-namespace", "NS=CC",
            "treat namespace NS as a tenant in jurisdiction CC (repeatable)",
            [](State& s, const std::string& f, const std::string& v) {
              auto tn = policy::parse_namespace_tenant(v);
              if (!tn) throw UsageError(cli::tenant_namespace_error(v), f);
              s.cmd.options.policy.tenant_namespaces.push_back(std::move(*tn));
            })
      ->group(serving);
  value_flag(app, state, "--in-force-on", "DATE|today",
             "select the rules in force on DATE (YYYY-MM-DD), overriding the policy's inForceOn "
             "(preset current: those rules)",
             [](State& s, const std::string& f, const std::string& v) {
               if (auto problem = cli::in_force_flag_problem(v); !problem.empty()) {
                 throw UsageError(problem, f);
               }
               s.cmd.options.policy.in_force_on = v;
             })
      ->group(serving);
  value_flag(app, state, "--threads", "N",
             "maximum handler threads in cluster mode (requests waiting on the ledger)",
             [](State& s, const std::string& f, const std::string& v) {
               auto& o = s.cmd.options;
               o.max_threads = static_cast<size_t>(parse_integer(f, v, 1, 65536));
               o.min_threads = std::min(o.min_threads, o.max_threads);
             })
      ->default_str(std::to_string(d.max_threads))
      ->group(serving);
  value_flag(app, state, "--max-body-bytes", "N", "largest request body accepted",
             [](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.max_body_bytes =
                   static_cast<size_t>(parse_integer(f, v, 1024, 1024LL * 1024 * 1024));
             })
      ->default_str(std::to_string(d.max_body_bytes))
      ->group(serving);
  value_flag(app, state, "--read-timeout", "SECONDS", "per-read timeout while receiving a request",
             [](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.read_timeout = parse_seconds(f, v, 0.01, 3600);
             })
      ->default_str(seconds_text(d.read_timeout))
      ->group(serving);
  value_flag(app, state, "--write-timeout", "SECONDS", "per-write timeout while sending a response",
             [](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.write_timeout = parse_seconds(f, v, 0.01, 3600);
             })
      ->default_str(seconds_text(d.write_timeout))
      ->group(serving);
  value_flag(app, state, "--request-timeout", "SECONDS",
             "a started request must arrive within this",
             [](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.request_timeout = parse_seconds(f, v, 0.1, 3600);
             })
      ->default_str(seconds_text(d.request_timeout))
      ->group(serving);
  value_flag(
      app, state, "--keep-alive-timeout", "SECONDS", "idle keep-alive connections close after this",
      [](State& s, const std::string& f, const std::string& v) {
        s.cmd.options.keep_alive_timeout_seconds = static_cast<int>(parse_integer(f, v, 1, 3600));
      })
      ->default_str(std::to_string(d.keep_alive_timeout_seconds))
      ->group(serving);
  value_flag(app, state, "--shutdown-delay", "SECONDS",
             "on SIGTERM, fail readiness this long before draining",
             [](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.shutdown_delay = parse_seconds(f, v, 0, 600);
             })
      ->default_str(seconds_text(d.shutdown_delay))
      ->group(serving);
  value_flag(app, state, "--reload-interval", "SECONDS",
             "how often the policy and certificate files are checked for changes",
             [](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.reload_interval = parse_seconds(f, v, 0.05, 3600);
             })
      ->default_str(seconds_text(d.reload_interval))
      ->group(serving);
  value_flag(app, state, "--log-level", "LEVEL", "debug, info, warn or error",
             [](State& s, const std::string& f, const std::string& v) {
               auto level = parse_log_level(v);
               if (!level) {
                 throw UsageError(f + ": expected debug|info|warn|error, got \"" + v + "\"", f);
               }
               s.cmd.options.log_level = *level;
             })
      ->default_str("info")
      ->group(serving);

  const std::string decisions = "Decision log (docs/compliance.md)";
  value_flag(app, state, "--decision-log", "FILE",
             "append every deny and warn to FILE as hash-chained JSON lines (check with "
             "`exportgate log verify`)",
             [](State& s, const std::string& f, const std::string& v) {
               if (v.empty()) throw UsageError(f + " needs a file name", f);
               s.cmd.decision_log.path = v;
             })
      ->group(decisions);
  cli::add_switch(app, "--decision-log-all", state->cmd.decision_log.record_allows,
                  "also record allowed requests that ask for accelerators")
      ->group(decisions);
  value_flag(app, state, "--decision-log-max-bytes", "N",
             "rotate FILE to FILE.000001, ... before it passes N bytes; 0 = never",
             [](State& s, const std::string& f, const std::string& v) {
               const long long n = parse_integer(f, v, 0, 1LL << 50);
               if (n != 0 && n < 1024) throw UsageError(f + ": 0 or at least 1024", f);
               s.cmd.decision_log.max_bytes = static_cast<uint64_t>(n);
               s.decision_log_flag = f;
             })
      ->default_str(std::to_string(dl.max_bytes))
      ->group(decisions);

  // Usage shared by all replicas in TPPLedger objects, namespace labels, node models and pod
  // usage from watches.
  const std::string cluster = "Cluster mode (docs/cluster-mode.md)";
  auto cluster_only = [](State& s, const std::string& f) { s.cluster_flag = f; };
  cli::add_switch(app, "--in-cluster", state->cmd.options.cluster.in_cluster,
                  "use the pod's service account")
      ->group(cluster);
  value_flag(app, state, "--kubeconfig", "FILE",
             "use this kubeconfig (token or client certificate)",
             [](State& s, const std::string& f, const std::string& v) {
               if (v.empty()) throw UsageError(f + " needs a file name", f);
               s.cmd.options.cluster.kubeconfig = v;
             })
      ->group(cluster);
  value_flag(app, state, "--ledger-namespace", "NS",
             "where TPPLedgers and the Lease live (default: the pod's namespace in-cluster, else "
             "exportgate-system)",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.ledger_namespace = v;
               cluster_only(s, f);
             })
      ->group(cluster);
  value_flag(app, state, "--identity", "NAME", "Lease holder identity (default: hostname-pid)",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.identity = v;
               cluster_only(s, f);
             })
      ->group(cluster);
  value_flag(app, state, "--ledger-unavailable", "deny|allow",
             "capped requests when the ledger cannot be written",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               if (v != "deny" && v != "allow") {
                 throw UsageError(f + ": expected deny or allow, got \"" + v + "\"", f);
               }
               s.cmd.options.cluster.allow_when_ledger_unavailable = v == "allow";
               cluster_only(s, f);
             })
      ->default_str("deny")
      ->group(cluster);
  value_flag(app, state, "--ledger-leases", "on|off",
             "leased headroom: each replica admits capped Pods from a share of the room it "
             "holds in the ledger, without a write per Pod (docs/cluster-mode.md)",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               if (v != "on" && v != "off") {
                 throw UsageError(f + ": expected on or off, got \"" + v + "\"", f);
               }
               s.cmd.options.cluster.ledger_leases = v == "on";
               cluster_only(s, f);
             })
      ->default_str("on")
      ->group(cluster);
  value_flag(app, state, "--ledger-timeout", "SECONDS", "a reservation gives up after this",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.ledger_timeout = parse_seconds(f, v, 0.1, 30);
               cluster_only(s, f);
             })
      ->default_str(seconds_text(d.cluster.ledger_timeout))
      ->group(cluster);
  value_flag(app, state, "--lease-duration", "SECONDS", "reconciler Lease duration",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.lease_duration =
                   std::chrono::seconds(parse_integer(f, v, 2, 3600));
               cluster_only(s, f);
             })
      ->default_str(std::to_string(d.cluster.lease_duration.count()))
      ->group(cluster);
  value_flag(app, state, "--reconcile-interval", "SECONDS", "reconciler period",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.reconcile_interval = parse_seconds(f, v, 0.1, 3600);
               cluster_only(s, f);
             })
      ->default_str(seconds_text(d.cluster.reconcile_interval))
      ->group(cluster);
  value_flag(
      app, state, "--reservation-ttl", "SECONDS", "unclaimed reservations are dropped after this",
      [cluster_only](State& s, const std::string& f, const std::string& v) {
        s.cmd.options.cluster.reservation_ttl = std::chrono::seconds(parse_integer(f, v, 1, 86400));
        cluster_only(s, f);
      })
      ->default_str(std::to_string(d.cluster.reservation_ttl.count()))
      ->group(cluster);
  value_flag(app, state, "--audit-interval", "DURATION",
             "background audit period while holding the Lease, e.g. 30s, 5m, 1h or plain "
             "seconds; 0 disables",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.audit_interval = parse_duration(f, v);
               cluster_only(s, f);
             })
      ->default_str("5m")
      ->group(cluster);
  cli::add_switch(
      app, "--kueue-admission-check", state->cmd.options.cluster.kueue_admission_check,
      "serve Kueue AdmissionChecks with controllerName exportgate.io/tpp (docs/kueue.md)")
      ->group(cluster);
  value_flag(app, state, "--kueue-interval", "SECONDS",
             "how often waiting Workloads are judged again",
             [cluster_only](State& s, const std::string& f, const std::string& v) {
               s.cmd.options.cluster.kueue_interval = parse_seconds(f, v, 0.1, 3600);
               cluster_only(s, f);
             })
      ->default_str(seconds_text(d.cluster.kueue_interval))
      ->group(cluster);

  return [state] {
    const auto& o = state->cmd.options;
    // The switches are bound directly; they count as given when they are on.
    if (state->decision_log_flag.empty() && state->cmd.decision_log.record_allows) {
      state->decision_log_flag = "--decision-log-all";
    }
    if (state->cluster_flag.empty() && o.cluster.kueue_admission_check) {
      state->cluster_flag = "--kueue-admission-check";
    }
    if (!state->decision_log_flag.empty() && state->cmd.decision_log.path.empty()) {
      throw UsageError(state->decision_log_flag + " needs --decision-log FILE",
                       state->decision_log_flag);
    }
    if (o.cluster.in_cluster && !o.cluster.kubeconfig.empty()) {
      throw UsageError("--in-cluster and --kubeconfig are exclusive");
    }
    if (!state->cluster_flag.empty() && !o.cluster.enabled()) {
      throw UsageError(state->cluster_flag + " needs cluster mode (--in-cluster or --kubeconfig)",
                       state->cluster_flag);
    }
    if (o.tls_cert.empty() != o.tls_key.empty()) {
      throw UsageError("--tls-cert and --tls-key must be given together");
    }
    if (!o.tls_cert.empty() && !o.dns_names.empty()) {
      throw UsageError(
          "--dns-name applies to the generated certificate only; the names of --tls-cert come "
          "from that file");
    }
    return state->cmd;
  };
}

ServeCommand parse_serve_args(const std::vector<std::string>& args) {
  CLI::App app("exportgate serve", "serve");
  cli::configure_command(app);
  auto result = define_serve_flags(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  return result();
}

}  // namespace exportgate::webhook
