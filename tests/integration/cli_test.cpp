// The offline CLI end to end: runs the real `exportgate` binary (check, catalog, policy,
// version) and checks exit codes and output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "exportgate_process.hpp"
#include "policy/catalog.hpp"
#include "webhook/command_line.hpp"

namespace {

const std::string kSource = EXPORTGATE_SOURCE_DIR;

using CliRun = eg_test::ExportgateRun;
using eg_test::Env;
using eg_test::TempFile;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the binary with `args` from the source directory, `input` on stdin, `env` added to the
// environment.
CliRun run(const std::vector<std::string>& args, const std::string& input = "",
           const Env& env = {}) {
  return eg_test::run_exportgate(args, input, env);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(CliCheck, H100PodDeniedForChina) {
  const CliRun r =
      run({"check", "-f", "manifests/examples/pod-8xh100.yaml", "--jurisdiction", "CN"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  for (const char* s :
       {"DENY", "Pod", "train-h100", "H100", "8", "126,656", "CN", "Tier 3", "90 FR 4544"}) {
    EXPECT_TRUE(contains(r.out, s)) << "missing \"" << s << "\" in:\n" << r.out;
  }
}

TEST(CliCheck, H100PodAllowedForGermany) {
  const CliRun r =
      run({"check", "-f", "manifests/examples/pod-8xh100.yaml", "--jurisdiction", "DE"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "ALLOW Pod")) << r.out;
  EXPECT_TRUE(contains(r.out, "Tier 1")) << r.out;
}

TEST(CliCheck, H100PodWithoutJurisdictionIsDenied) {
  // An unknown jurisdiction never passes as any tier.
  const CliRun r = run({"check", "-f", "manifests/examples/pod-8xh100.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

TEST(CliCheck, CpuPodAdmittedEverywhere) {
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--jurisdiction", "CN"},
                                                {"--jurisdiction", "IN"},
                                                {"--jurisdiction", "DE"},
                                                {"--jurisdiction", "US"},
                                                {}}) {
    std::vector<std::string> args = {"check", "-f", "manifests/examples/pod-cpu.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CliRun r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "ALLOW Pod frontend/web: no accelerators")) << r.out;
  }
}

// 1e14 GPUs (and "25T") crashed `check` in the TPP formatting; it is a denial that says why.
TEST(CliCheck, HugeQuantityIsDeniedAsBeyondRange) {
  for (const std::string q : {"1e14", "\"25T\""}) {
    const std::string pod =
        "apiVersion: v1\nkind: Pod\nmetadata: {name: huge, namespace: ml}\nspec:\n"
        "  containers:\n  - name: c\n    resources: {limits: {nvidia.com/gpu: " +
        q + "}}\n";
    for (const char* jurisdiction : {"DE", "CN"}) {
      const CliRun r = run({"check", "-f", "-", "--jurisdiction", jurisdiction}, pod);
      EXPECT_EQ(r.exit_code, 1) << q << " " << jurisdiction << r.out << r.err;
      EXPECT_TRUE(contains(r.out, "beyond the range exportgate evaluates")) << r.out << r.err;
    }
  }
}

TEST(CliCheck, ReadsStdin) {
  const CliRun r = run({"check", "-f", "-", "--jurisdiction", "RU"},
                       slurp(kSource + "/manifests/examples/pod-8xh100.yaml"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "DENY Pod ml-training/train-h100")) << r.out;
}

// Issue 13, "unknown is the worst case": names the catalog does not know are denied in Tier 3
// with the value named and how to declare it. Old binary: each of these was "no accelerators"
// (or the known L4) and admitted with exit 0.
TEST(CliCheck, UnknownNamesAreTheWorstCase) {
  const std::string head = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: t}\nspec:\n";
  const std::string gpu = "  containers: [{name: c, image: x, resources: {limits: {";
  struct Case {
    std::string manifest;
    std::string named;  // the value the denial must name
  };
  const std::vector<Case> cases = {
      {head + gpu + "nvidia.com/gpu.shared: 1}}}]\n",
       exportgate::policy::builtin_catalog().most_capable_of_vendor("NVIDIA")->display_name},
      {head + gpu + "nvidia.com/GH100_FUTURE_96GB: 1}}}]\n", "nvidia.com/GH100_FUTURE_96GB"},
      {head + gpu + "example.com/npu: 1}}}]\n", "example.com/npu"},
      {head + "  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-NEW}\n" + gpu +
           "nvidia.com/gpu: 1}}}]\n",
       "nvidia.com/gpu.product=NVIDIA-H100-NEW"},
      {head +
           "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
           "{nodeSelectorTerms: [{matchExpressions: [{key: nvidia.com/gpu.product, operator: In, "
           "values: [NVIDIA-H20, NVIDIA-X999]}]}]}}}\n" +
           gpu + "nvidia.com/gpu: 1}}}]\n",
       "NVIDIA-X999"},
      {head + "  containers: [{name: c, image: x, env: [{name: NVIDIA_VISIBLE_DEVICES, value: "
              "all}]}]\n",
       "NVIDIA_VISIBLE_DEVICES=all"},
      {head + "  containers: [{name: c, image: x, securityContext: {privileged: true}}]\n",
       "privileged"},
      {head +
           "  containers: [{name: c, image: x}]\n  volumes: [{name: d, hostPath: {path: /dev}}]\n",
       "host path /dev"},
  };
  for (const auto& c : cases) {
    const CliRun r = run({"check", "-f", "-", "--jurisdiction", "CN"}, c.manifest);
    EXPECT_EQ(r.exit_code, 1) << c.manifest << r.out << r.err;
    EXPECT_TRUE(contains(r.out, c.named)) << c.manifest << r.out;
  }
  // The admin's way out: spec.ignore and spec.deviceAccessExempt.
  TempFile policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n"
      "  ignore: {resources: [example.com/npu]}\n  deviceAccessExempt: [t]\n");
  for (size_t i : {2u, 5u, 6u, 7u}) {
    const CliRun r = run({"check", "-f", "-", "--jurisdiction", "CN", "--policy", policy.path()},
                         cases[i].manifest);
    EXPECT_EQ(r.exit_code, 0) << cases[i].manifest << r.out << r.err;
  }
}

TEST(CliCheck, BadYamlExitsTwoWithPosition) {
  const CliRun r = run({"check", "-f", "-"}, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "<stdin>:5:1: invalid YAML")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliCheck, MalformedObjectExitsTwo) {
  const CliRun r = run({"check", "-f", "-"},
                       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: 3\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "spec.containers: expected an array")) << r.err;
}

TEST(CliCheck, MissingFileExitsTwo) {
  const CliRun r = run({"check", "-f", "does/not/exist.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "does/not/exist.yaml")) << r.err;
}

TEST(CliCheck, BadPolicyExitsTwo) {
  TempFile policy(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: x}\nspec:\n  mode: "
      "loud\n");
  const CliRun r =
      run({"check", "-f", "manifests/examples/pod-cpu.yaml", "--policy", policy.path()});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(contains(r.err, policy.path() + ":5:")) << r.err;
}

TEST(CliCheck, UsageErrors) {
  EXPECT_EQ(run({"check"}).exit_code, 2);
  EXPECT_EQ(
      run({"check", "-f", "manifests/examples/pod-cpu.yaml", "--jurisdiction", "XX"}).exit_code, 2);
  EXPECT_EQ(run({"check", "-f", "manifests/examples/pod-cpu.yaml", "-o", "xml"}).exit_code, 2);
  EXPECT_EQ(run({"check", "--bogus"}).exit_code, 2);
  const CliRun help = run({"check", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(contains(help.out, "--namespace-labels")) << help.out;
}

TEST(CliCheck, JsonOutputParses) {
  const CliRun r = run({"check", "-f", "manifests/examples/pod-8xh100.yaml", "-f",
                        "manifests/examples/pod-cpu.yaml", "--jurisdiction", "CN", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["kind"], "Pod");
  EXPECT_EQ(j[0]["name"], "train-h100");
  EXPECT_EQ(j[0]["namespace"], "ml-training");
  EXPECT_EQ(j[0]["jurisdiction"], "CN");
  EXPECT_EQ(j[0]["tier"], "tier3");
  EXPECT_EQ(j[0]["verdict"], "deny");
  EXPECT_DOUBLE_EQ(j[0]["tpp"].get<double>(), 126656);
  EXPECT_DOUBLE_EQ(j[0]["controlled_tpp"].get<double>(), 126656);
  ASSERT_EQ(j[0]["accelerators"].size(), 1u);
  EXPECT_EQ(j[0]["accelerators"][0]["model"], "h100-sxm");
  EXPECT_EQ(j[0]["accelerators"][0]["quantity"], 8);
  EXPECT_FALSE(j[0]["reasons"].empty());
  EXPECT_EQ(j[1]["verdict"], "allow");
  EXPECT_EQ(j[1]["tpp"], 0);
}

TEST(CliCheck, NamespaceLabelsGiveTheJurisdiction) {
  const CliRun r = run({"check", "-f", "manifests/examples/pod-8xh100.yaml", "--namespace-labels",
                        "exportgate.io/jurisdiction=IR,exportgate.io/tenant=acme"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "IR (Tier 3)")) << r.out;
  EXPECT_TRUE(contains(r.out, "tenant acme")) << r.out;
}

TEST(CliCheck, PolicyTenantsResolveNamespaces) {
  TempFile pod(R"(apiVersion: v1
kind: Pod
metadata: {name: p, namespace: lion-ai-dev}
spec:
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
  containers: [{name: c, image: x, resources: {limits: {nvidia.com/gpu: 8}}}]
)");
  const CliRun r =
      run({"check", "-f", pod.path(), "--policy", "manifests/examples/policy-example.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "tenant lion-ai, jurisdiction SG (Tier 2)")) << r.out;
}

TEST(CliCheck, UsageAccumulatesWithinOneRun) {
  // A Tier 2 tenant's cap is 26,900,000 TPP: 1,699 H100 fit, so 27 pods of 64 H100 (1,728)
  // cannot all be admitted; the earlier ones are, the later ones are denied.
  std::string docs;
  for (int i = 0; i < 27; ++i) {
    docs += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p" + std::to_string(i) +
            ", namespace: t2}\nspec:\n  nodeSelector: {nvidia.com/gpu.product: "
            "NVIDIA-H100-80GB-HBM3}\n  containers: [{name: c, image: x, resources: {limits: "
            "{nvidia.com/gpu: 64}}}]\n";
  }
  const CliRun r =
      run({"check", "-f", "-", "--jurisdiction", "SG", "--tenant", "t2", "-o", "json"}, docs);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 27u);
  EXPECT_NE(j[0]["verdict"], "deny");
  EXPECT_EQ(j[26]["verdict"], "deny");
  // 26 pods x 64 x 15,832 = 26,344,448 TPP fits; the 27th would exceed the cap.
  for (int i = 0; i < 26; ++i) EXPECT_NE(j[i]["verdict"], "deny") << i;
}

TEST(CliCheck, CustomResourcesAndSkippedKinds) {
  const CliRun r = run({"check", "-f", "manifests/examples/jobset.yaml", "-f",
                        "manifests/examples/policy-example.yaml", "--jurisdiction", "CN"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "DENY JobSet ml-training/pretrain")) << r.out;
  EXPECT_TRUE(contains(r.out, "SKIP Policy")) << r.out;
}

TEST(CliCatalog, ListsH100WithItsTpp) {
  const CliRun r = run({"catalog"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "h100-sxm")) << r.out;
  EXPECT_TRUE(contains(r.out, "H100")) << r.out;
  EXPECT_TRUE(contains(r.out, "15,832")) << r.out;
  EXPECT_TRUE(contains(r.out, "3A090.a")) << r.out;

  const CliRun j = run({"catalog", "-o", "json"});
  EXPECT_EQ(j.exit_code, 0);
  const auto doc = nlohmann::json::parse(j.out);
  bool found = false;
  for (const auto& m : doc["models"]) {
    if (m["id"] == "h100-sxm") {
      found = true;
      EXPECT_DOUBLE_EQ(m["tpp"].get<double>(), 15832);
    }
  }
  EXPECT_TRUE(found);
}

TEST(CliPolicy, ValidateGoodAndBad) {
  const CliRun good = run({"policy", "validate", "manifests/examples/policy-example.yaml"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_TRUE(contains(good.out,
                       "manifests/examples/policy-example.yaml: ok (policy gpu-cloud-eu-west, "
                       "preset diffusion-2025, hash "))
      << good.out;

  TempFile bad(
      "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: x}\nspec:\n"
      "  mode: loud\n  tenants:\n    - name: t\n      namespaces: [a]\n");
  const CliRun r = run({"policy", "validate", bad.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, bad.path() + ":5:")) << r.err;
  EXPECT_TRUE(contains(r.err, bad.path() + ":7:")) << r.err;  // every error, not only the first

  EXPECT_EQ(run({"policy", "validate", "no/such/file.yaml"}).exit_code, 2);
  EXPECT_EQ(run({"policy"}).exit_code, 2);

  const CliRun show = run({"policy", "show"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_TRUE(contains(show.out, "diffusion-2025")) << show.out;
  EXPECT_TRUE(contains(show.out, "Tier 3")) << show.out;
}

TEST(CliVersion, PrintsVersionAndPresets) {
  const CliRun r = run({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind(std::string("exportgate ") + EXPORTGATE_VERSION, 0), 0u) << r.out;
  EXPECT_TRUE(contains(r.out, "diffusion-2025 (default)")) << r.out;
  EXPECT_TRUE(contains(r.out, "controls-2023")) << r.out;
}

// Issue 18: one parser for every subcommand. `--help` is generated from the definitions, so each
// command's help lists every flag it accepts, with the environment variable that also sets it.
TEST(CliFlags, HelpOfEveryCommandListsEveryFlagAndItsVariable) {
  const auto commands = exportgate::cli::command_flags();
  ASSERT_GE(commands.size(), 8u);  // serve check audit catalog version log verify, policy x3
  size_t flags = 0;
  for (const auto& c : commands) {
    std::vector<std::string> args = c.command;
    args.push_back("--help");
    const CliRun r = run(args);
    std::string name;
    for (const auto& w : c.command) name += w + " ";
    EXPECT_EQ(r.exit_code, 0) << name << r.err;
    for (const auto& [flag, env] : c.flags) {
      ++flags;
      EXPECT_TRUE(contains(r.out, flag)) << name << flag << "\n" << r.out;
      EXPECT_FALSE(env.empty()) << name << flag;
      EXPECT_TRUE(contains(r.out, "$" + env)) << name << flag << " " << env << "\n" << r.out;
    }
    EXPECT_TRUE(contains(r.out, "EXPORTGATE_FOO_BAR")) << name << r.out;  // the rule, once
  }
  EXPECT_GE(flags, 50u);
  // Flags scripts and the chart rely on, named here so a lost definition cannot go unnoticed.
  const CliRun serve = run({"serve", "--help"});
  for (const char* f : {"--listen", "--metrics-listen", "--tls-cert", "--client-ca", "--in-cluster",
                        "--audit-interval", "--decision-log-max-bytes", "--kueue-interval",
                        "EXPORTGATE_SHUTDOWN_DELAY"}) {
    EXPECT_TRUE(contains(serve.out, f)) << f;
  }
  const CliRun check = run({"check", "--help"});
  for (const char* f : {"-f,--file", "-o,--output", "--namespace-labels", "EXPORTGATE_FILE",
                        "EXPORTGATE_CHECK_NAMESPACE"}) {
    EXPECT_TRUE(contains(check.out, f)) << f << "\n" << check.out;
  }
  EXPECT_TRUE(contains(run({"audit", "--help"}).out, "EXPORTGATE_AUDIT_REQUEST_TIMEOUT"));
  EXPECT_EQ(run({"--help"}).exit_code, 0);
  EXPECT_TRUE(contains(run({"--help"}).out, "serve"));
}

TEST(CliFlags, EnvironmentSetsCheckFlagsAndTheCommandLineWins) {
  const std::string pod = "manifests/examples/pod-8xh100.yaml";
  const CliRun cn = run({"check", "-f", pod}, "", {{"EXPORTGATE_JURISDICTION", "CN"}});
  EXPECT_EQ(cn.exit_code, 1) << cn.out << cn.err;
  EXPECT_TRUE(contains(cn.out, "CN (Tier 3)")) << cn.out;
  const CliRun us =
      run({"check", "-f", pod, "--jurisdiction", "US"}, "", {{"EXPORTGATE_JURISDICTION", "CN"}});
  EXPECT_EQ(us.exit_code, 0) << us.out << us.err;
  EXPECT_TRUE(contains(us.out, "US (Tier 1)")) << us.out;
  // A repeatable flag and -o from the environment; an empty variable counts as unset.
  const CliRun json = run({"check"}, "",
                          {{"EXPORTGATE_FILE", "manifests/examples/pod-cpu.yaml"},
                           {"EXPORTGATE_OUTPUT", "json"},
                           {"EXPORTGATE_TENANT", ""}});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out).size(), 1u) << json.out;
  // check's --namespace has a variable of its own: audit's --namespace means something else.
  const std::string bare =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: "
      "x}]\n";
  const CliRun ns = run({"check", "-f", "-"}, bare,
                        {{"EXPORTGATE_CHECK_NAMESPACE", "team-a"}, {"EXPORTGATE_NAMESPACE", "x"}});
  EXPECT_EQ(ns.exit_code, 0) << ns.err;
  EXPECT_TRUE(contains(ns.out, "Pod team-a/p")) << ns.out;
}

// serve reads its variables too; each case stops at a usage error, so no server starts.
TEST(CliFlags, EnvironmentSetsServeFlagsAndTheCommandLineWins) {
  const CliRun ns = run({"serve"}, "", {{"EXPORTGATE_LEDGER_NAMESPACE", "x"}});
  EXPECT_EQ(ns.exit_code, 2);
  EXPECT_TRUE(contains(ns.err,
                       "--ledger-namespace needs cluster mode (--in-cluster or "
                       "--kubeconfig) (from $EXPORTGATE_LEDGER_NAMESPACE)"))
      << ns.err;
  // --log-level on the command line replaces the variable's bad value: the error is the next one.
  const CliRun wins = run({"serve", "--log-level", "info", "--ledger-namespace", "x"}, "",
                          {{"EXPORTGATE_LOG_LEVEL", "loud"}});
  EXPECT_EQ(wins.exit_code, 2);
  EXPECT_TRUE(contains(wins.err, "--ledger-namespace needs cluster mode")) << wins.err;
  EXPECT_FALSE(contains(wins.err, "loud")) << wins.err;
  // A switch from its variable: --in-cluster with --kubeconfig is refused.
  const CliRun both = run({"serve", "--kubeconfig", "kc"}, "", {{"EXPORTGATE_IN_CLUSTER", "true"}});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(contains(both.err, "--in-cluster and --kubeconfig are exclusive")) << both.err;
  // ... and false is off: the kubeconfig alone is used (and cannot be read here).
  const CliRun off = run({"serve", "--kubeconfig", "no/such/kubeconfig", "--metrics-listen", ""},
                         "", {{"EXPORTGATE_IN_CLUSTER", "false"}});
  EXPECT_EQ(off.exit_code, 2);
  EXPECT_TRUE(contains(off.err, "no/such/kubeconfig")) << off.err;
  EXPECT_FALSE(contains(off.err, "exclusive")) << off.err;
}

TEST(CliFlags, UsageErrorsExitTwoNamingTheFlag) {
  const std::string pod = "manifests/examples/pod-cpu.yaml";
  struct Case {
    std::vector<std::string> args;
    Env env;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {{"check", "-f", pod, "--bogus"}, {}, {"exportgate check:", "unknown flag \"--bogus\""}},
      {{"audit", "--kubeconfig", "kc", "--bogus=1"}, {}, {"unknown flag \"--bogus=1\""}},
      {{"catalog", "extra"}, {}, {"exportgate catalog:", "unexpected argument \"extra\""}},
      {{"policy", "diff", "-x"}, {}, {"exportgate policy diff:", "unknown flag \"-x\""}},
      {{"log", "verify", "--output", "xml", "f"}, {}, {"--output", "\"xml\""}},
      {{"check", "-f", pod, "--policy"}, {}, {"--policy"}},
      {{"check", "-f", pod, "--in-force-on", "soon"}, {}, {"--in-force-on", "soon"}},
      {{"serve", "--threads", "zero"}, {}, {"--threads", "\"zero\""}},
      {{"serve", "--in-cluster=false"}, {}, {"--in-cluster"}},
      {{"serve", "--read-timeout", "-1"}, {}, {"--read-timeout", "\"-1\""}},
      // A bad value from the environment: the message says which variable holds it.
      {{"check", "-f", pod},
       {{"EXPORTGATE_OUTPUT", "xml"}},
       {"--output must be text or json, got \"xml\" (from $EXPORTGATE_OUTPUT)"}},
      {{"serve"},
       {{"EXPORTGATE_LOG_LEVEL", "loud"}},
       {"--log-level", "\"loud\"", "$EXPORTGATE_LOG_LEVEL"}},
      {{"serve"}, {{"EXPORTGATE_IN_CLUSTER", "maybe"}}, {"--in-cluster", "maybe"}},
      {{"policy"}, {}, {"expected a subcommand: validate, show or diff"}},
      {{"bogus"}, {}, {"unknown command \"bogus\""}},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args, "", c.env);
    std::string name;
    for (const auto& a : c.args) name += a + " ";
    EXPECT_EQ(r.exit_code, 2) << name << r.out << r.err;
    for (const auto& s : c.says) EXPECT_TRUE(contains(r.err, s)) << name << s << "\n" << r.err;
  }
  // The same value on the command line is not blamed on the variable.
  const CliRun r = run({"check", "-f", pod, "-o", "xml"}, "", {{"EXPORTGATE_OUTPUT", "json"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(contains(r.err, "EXPORTGATE_OUTPUT")) << r.err;
}

}  // namespace