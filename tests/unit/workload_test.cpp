// Demand extraction, table-driven over tests/fixtures/workloads/: every built-in kind, the
// effective-request rule, model pinning and worst case, custom resources, malformed objects.
#include "policy/workload.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "policy/embedded.hpp"
#include "policy/errors.hpp"
#include "policy/manifest.hpp"
#include "policy/policy_loader.hpp"
#include "policy/workload_kinds_yaml.hpp"

namespace exportgate::policy {
namespace {

const std::string kFixtures = std::string(EXPORTGATE_SOURCE_DIR) + "/tests/fixtures/workloads/";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json load_fixture(const std::string& name) {
  const auto objects = parse_manifests(read_file(kFixtures + name), name);
  EXPECT_EQ(objects.size(), 1u) << name;
  return objects.at(0).object;
}

const Policy& policy() {
  static const Policy p = load_preset(kDefaultPreset);
  return p;
}

double tpp_of(const std::string& model_id) {
  const AcceleratorModel* m = policy().catalog.find_model(model_id);
  EXPECT_NE(m, nullptr) << model_id;
  return m ? m->tpp : 0;
}

// The most capable model serving `resource`, computed independently of the code under test.
std::string most_capable_for(const std::string& resource) {
  const AcceleratorModel* best = nullptr;
  for (const auto& m : policy().catalog.models) {
    for (const auto& r : m.resources) {
      if (r == resource && (!best || m.tpp > best->tpp)) best = &m;
    }
  }
  return best ? best->id : "";
}

struct Case {
  std::string file;
  int64_t pods;       // total pods
  double devices;     // accelerator_count: whole devices (fractions for MIG) x pods
  std::string model;  // model every accelerator is charged as; "worst:<resource>" = most capable
  bool pinned;
  std::vector<std::string> available = {};  // ExtractOptions::available_models when non-empty
  size_t pod_sets = 1;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.file;
}

class WorkloadFixture : public ::testing::TestWithParam<Case> {};

TEST_P(WorkloadFixture, ExtractsDemand) {
  const Case& c = GetParam();
  ExtractOptions options;
  if (!c.available.empty()) options.available_models = &c.available;
  const WorkloadDemand d = extract_demand(load_fixture(c.file), policy(), options);
  ASSERT_TRUE(d.recognized);
  EXPECT_EQ(d.total_pods, c.pods);
  EXPECT_EQ(d.pod_sets.size(), c.pod_sets);
  EXPECT_NEAR(d.accelerator_count, c.devices, 1e-9);
  if (c.devices == 0) {
    EXPECT_FALSE(d.has_accelerators());
    EXPECT_EQ(d.total_tpp, 0);
    EXPECT_EQ(d.controlled_tpp, 0);
    return;
  }
  const std::string model =
      c.model.rfind("worst:", 0) == 0 ? most_capable_for(c.model.substr(6)) : c.model;
  ASSERT_FALSE(model.empty());
  for (const auto& set : d.pod_sets) {
    for (const auto& a : set.accelerators) {
      EXPECT_EQ(a.model_id, model);
      EXPECT_EQ(a.pinned, c.pinned);
    }
  }
  const double tpp = c.devices * tpp_of(model);
  EXPECT_NEAR(d.total_tpp, tpp, 1e-6 * tpp);
  const bool controlled = is_controlled(policy().catalog.find_model(model)->export_class);
  EXPECT_NEAR(d.controlled_tpp, controlled ? tpp : 0, 1e-6 * tpp);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, WorkloadFixture,
    ::testing::Values(
        Case{"pod-h100-pinned.yaml", 1, 8, "h100-sxm", true}, Case{"pod-cpu.yaml", 1, 0, "", false},
        Case{"pod-unpinned.yaml", 1, 1, "worst:nvidia.com/gpu", false},
        Case{"pod-unpinned.yaml", 1, 1, "a100", false, {"h20", "a100", "tpu-v5e"}},
        // None of the available models serves the resource: the whole catalog is the fallback.
        Case{"pod-unpinned.yaml", 1, 1, "worst:nvidia.com/gpu", false, {"tpu-v5e"}},
        // A pinned model wins over the available-models list.
        Case{"pod-h20.yaml", 1, 4, "h20", true, {"a100"}},
        Case{"pod-mig-pinned.yaml", 1, 2.0 / 7, "a100", true},
        Case{"pod-mig-unpinned.yaml", 1, 1.0 / 7, "h100-sxm", false},
        Case{"pod-init-larger.yaml", 1, 4, "a100", true},
        Case{"pod-containers-larger.yaml", 1, 5, "a100", true},
        Case{"pod-sidecar-init.yaml", 1, 4, "a100", true},
        Case{"pod-sidecar-containers.yaml", 1, 6, "a100", true},
        Case{"pod-init-before-sidecar.yaml", 1, 3, "a100", true},
        Case{"pod-overhead.yaml", 1, 3, "a100", true},
        Case{"pod-request-wins.yaml", 1, 3, "a100", true},
        Case{"pod-level-resources.yaml", 1, 2, "a100", true},
        Case{"pod-affinity.yaml", 1, 1, "h20", true},
        Case{"pod-affinity-multi-term.yaml", 1, 1, "a100", true},
        Case{"pod-affinity-multi-value.yaml", 1, 1, "h100-sxm", true},
        Case{"pod-affinity-unpinned-term.yaml", 1, 1, "worst:nvidia.com/gpu", false},
        Case{"pod-affinity-notin.yaml", 1, 1, "worst:nvidia.com/gpu", false},
        Case{"pod-pin-wrong-resource.yaml", 1, 1, "worst:amd.com/gpu", false},
        Case{"pod-instance-type.yaml", 1, 8, "a100", true},
        Case{"podtemplate.yaml", 1, 2, "a100", true}, Case{"deployment.yaml", 3, 6, "a100", true},
        Case{"replicaset.yaml", 3, 6, "a100", true}, Case{"statefulset.yaml", 3, 6, "a100", true},
        Case{"replicationcontroller.yaml", 3, 6, "a100", true},
        Case{"deployment-default-replicas.yaml", 1, 2, "a100", true},
        Case{"deployment-zero-replicas.yaml", 0, 0, "", false},
        Case{"daemonset.yaml", 1, 1, "a100", true}, Case{"job-parallel.yaml", 4, 8, "a100", true},
        Case{"job-fewer-completions.yaml", 2, 4, "a100", true},
        Case{"job-default.yaml", 1, 2, "a100", true}, Case{"cronjob.yaml", 3, 6, "a100", true},
        Case{"jobset.yaml", 9, 64, "h100-sxm", true, {}, 2},
        Case{"pytorchjob.yaml", 4, 32, "h100-sxm", true, {}, 2},
        Case{"mpijob.yaml", 3, 16, "h100-sxm", true, {}, 2},
        Case{"rayjob.yaml", 3, 8, "a100", true, {}, 2},
        Case{"raycluster.yaml", 5, 17, "a100", true, {}, 2},
        Case{"leaderworkerset.yaml", 10, 80, "h100-sxm", true, {}, 2},
        Case{"leaderworkerset-no-leader.yaml", 8, 64, "h100-sxm", true},
        // Issue 13: kinds users run, in the early check. Old code: not recognized.
        Case{"trainjob.yaml", 4, 32, "worst:nvidia.com/gpu", false},
        Case{"volcano-job.yaml", 4, 24, "h100-sxm", true, {}, 2},
        Case{"argo-workflow.yaml", 3, 7, "a100", true, {}, 3},
        Case{"argo-cronworkflow.yaml", 1, 2, "worst:nvidia.com/gpu", false},
        Case{"kserve-isvc.yaml", 4, 3, "h100-sxm", true, {}, 2},
        Case{"kserve-multinode.yaml", 3, 24, "h100-sxm", true, {}, 2}),
    [](const auto& info) {
      std::string name = info.param.file.substr(0, info.param.file.size() - 5);
      for (char& ch : name) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name + "_" + std::to_string(info.index);
    });

TEST(Workload, UnrecognizedKindsHoldNoPods) {
  for (const char* file : {"configmap.yaml", "unknown-cr.yaml"}) {
    const WorkloadDemand d = extract_demand(load_fixture(file), policy());
    EXPECT_FALSE(d.recognized) << file;
    EXPECT_FALSE(d.has_accelerators()) << file;
  }
}

TEST(Workload, KindsAreMatchedByGroup) {
  // A "Deployment" of another API group is not an apps Deployment.
  auto obj = load_fixture("deployment.yaml");
  obj["apiVersion"] = "example.com/v1";
  EXPECT_FALSE(extract_demand(obj, policy()).recognized);
  obj["apiVersion"] = "extensions/v1beta1";
  EXPECT_TRUE(extract_demand(obj, policy()).recognized);
}

TEST(Workload, MetadataAndPodSetNames) {
  const WorkloadDemand pod = extract_demand(load_fixture("pod-h100-pinned.yaml"), policy());
  EXPECT_EQ(pod.kind, "Pod");
  EXPECT_EQ(pod.api_version, "v1");
  EXPECT_EQ(pod.name, "train-h100");
  EXPECT_EQ(pod.namespace_, "team-a");
  EXPECT_EQ(pod.max_class, ExportClass::k3A090a);
  ASSERT_EQ(pod.pod_sets.size(), 1u);
  EXPECT_EQ(pod.pod_sets[0].name, "");

  const WorkloadDemand js = extract_demand(load_fixture("jobset.yaml"), policy());
  ASSERT_EQ(js.pod_sets.size(), 2u);
  EXPECT_EQ(js.pod_sets[0].name, "replicatedJobs[0]");
  EXPECT_EQ(js.pod_sets[0].pods, 8);
  EXPECT_EQ(js.pod_sets[1].name, "replicatedJobs[1]");
  EXPECT_EQ(js.pod_sets[1].pods, 1);
  EXPECT_TRUE(js.pod_sets[1].accelerators.empty());

  const WorkloadDemand pt = extract_demand(load_fixture("pytorchjob.yaml"), policy());
  ASSERT_EQ(pt.pod_sets.size(), 2u);
  EXPECT_EQ(pt.pod_sets[0].name, "pytorchReplicaSpecs.Master");
  EXPECT_EQ(pt.pod_sets[1].name, "pytorchReplicaSpecs.Worker");
  EXPECT_EQ(pt.pod_sets[1].pods, 3);

  nlohmann::json generated = load_fixture("pod-cpu.yaml");
  generated["metadata"].erase("name");
  generated["metadata"]["generateName"] = "web-";
  EXPECT_EQ(extract_demand(generated, policy()).name, "web-*");
}

TEST(Workload, H100PodFigures) {
  // The figures of the reference notes: 8 x 15,832 = 126,656 TPP.
  const WorkloadDemand d = extract_demand(load_fixture("pod-h100-pinned.yaml"), policy());
  EXPECT_DOUBLE_EQ(d.total_tpp, 126656);
  EXPECT_DOUBLE_EQ(d.controlled_tpp, 126656);
  EXPECT_EQ(d.describe_accelerators(), "8 x NVIDIA H100 SXM (nvidia.com/gpu, pinned)");
}

TEST(Workload, H20IsNotControlled) {
  const WorkloadDemand d = extract_demand(load_fixture("pod-h20.yaml"), policy());
  EXPECT_DOUBLE_EQ(d.total_tpp, 4 * 2368);
  EXPECT_EQ(d.controlled_tpp, 0);
  EXPECT_EQ(d.max_class, ExportClass::kNotControlled);
}

TEST(Workload, DescribeAccelerators) {
  EXPECT_EQ(extract_demand(load_fixture("pod-cpu.yaml"), policy()).describe_accelerators(),
            "no accelerators");
  EXPECT_EQ(extract_demand(load_fixture("deployment.yaml"), policy()).describe_accelerators(),
            "3 pods x 2 x NVIDIA A100 (nvidia.com/gpu, pinned)");
  const std::string mig =
      extract_demand(load_fixture("pod-mig-unpinned.yaml"), policy()).describe_accelerators();
  EXPECT_NE(mig.find("nvidia.com/mig-1g.10gb"), std::string::npos) << mig;
  EXPECT_NE(mig.find("worst case"), std::string::npos) << mig;
}

TEST(Workload, DaemonSetCarriesANote) {
  const WorkloadDemand d = extract_demand(load_fixture("daemonset.yaml"), policy());
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_NE(d.notes[0].find("DaemonSet"), std::string::npos);
  EXPECT_TRUE(extract_demand(load_fixture("pod-h100-pinned.yaml"), policy()).notes.empty());
}

TEST(Workload, ScaleSubresource) {
  const nlohmann::json scale = {{"apiVersion", "autoscaling/v1"},
                                {"kind", "Scale"},
                                {"metadata", {{"name", "deployment-a100"}}},
                                {"spec", {{"replicas", 7}}}};
  EXPECT_EQ(scale_replicas(scale), 7);
  EXPECT_FALSE(extract_demand(scale, policy()).recognized);
  const WorkloadDemand d =
      extract_demand_scaled(load_fixture("deployment.yaml"), scale_replicas(scale), policy());
  EXPECT_EQ(d.total_pods, 7);
  EXPECT_NEAR(d.accelerator_count, 14, 1e-9);
  EXPECT_THROW(extract_demand_scaled(load_fixture("job-default.yaml"), 3, policy()), ManifestError);
  EXPECT_THROW(scale_replicas({{"spec", {{"replicas", -1}}}}), ManifestError);
  EXPECT_EQ(scale_replicas({{"spec", nlohmann::json::object()}}), 0);
}

TEST(Workload, JsonNumbersAndStringsAreBothQuantities) {
  nlohmann::json pod = load_fixture("pod-h100-pinned.yaml");
  pod["spec"]["containers"][0]["resources"] = {{"limits", {{"nvidia.com/gpu", "4"}}}};
  EXPECT_NEAR(extract_demand(pod, policy()).accelerator_count, 4, 1e-9);
  pod["spec"]["containers"][0]["resources"] = {{"limits", {{"nvidia.com/gpu", 2.0}}}};
  EXPECT_NEAR(extract_demand(pod, policy()).accelerator_count, 2, 1e-9);
  pod["spec"]["containers"][0]["resources"] = {{"limits", {{"nvidia.com/gpu", true}}}};
  EXPECT_THROW(extract_demand(pod, policy()), ManifestError);
}

// Malformed objects: each fixture's first line is "# expect: <substring of the message>".
class MalformedFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(MalformedFixture, ThrowsManifestErrorNamingTheField) {
  const std::string text = read_file(kFixtures + "malformed/" + GetParam());
  const std::string prefix = "# expect: ";
  ASSERT_EQ(text.rfind(prefix, 0), 0u);
  const std::string expected = text.substr(prefix.size(), text.find('\n') - prefix.size());
  const auto objects = parse_manifests(text, GetParam());
  ASSERT_EQ(objects.size(), 1u);
  try {
    extract_demand(objects[0].object, policy());
    FAIL() << "no error for " << GetParam();
  } catch (const ManifestError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << expected;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, MalformedFixture,
    ::testing::Values("containers-not-array.yaml", "containers-missing.yaml",
                      "resources-not-object.yaml", "requests-not-object.yaml", "bad-quantity.yaml",
                      "negative-quantity.yaml", "bad-cpu-quantity.yaml", "negative-replicas.yaml",
                      "string-replicas.yaml", "huge-replicas.yaml", "negative-parallelism.yaml",
                      "overflow-pods.yaml", "template-not-object.yaml",
                      "replicated-jobs-not-array.yaml", "spec-missing.yaml",
                      "node-selector-not-object.yaml", "affinity-values-not-array.yaml",
                      "container-not-object.yaml"),
    [](const auto& info) {
      std::string name = info.param.substr(0, info.param.size() - 5);
      for (char& ch : name) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST(Workload, NotAnObject) {
  EXPECT_THROW(extract_demand(nlohmann::json::array(), policy()), ManifestError);
  EXPECT_THROW(extract_demand({{"kind", "Pod"}}, policy()), ManifestError);
}

struct QuantityCase {
  const char* text;
  double value;
};

TEST(Quantity, Parses) {
  const QuantityCase cases[] = {
      {"8", 8},
      {"0", 0},
      {"500m", 0.5},
      {"1.5", 1.5},
      {"2Ki", 2048},
      {"1Mi", 1 << 20},
      {"3Gi", 3221225472.0},
      {"1k", 1000},
      {"2M", 2e6},
      {"1G", 1e9},
      {"1e3", 1000},
      {"1E3", 1000},
      {"5E-1", 0.5},
      {"+4", 4},
      {"-1", -1},
      {"100u", 1e-4},
      {"1n", 1e-9},
      {".5", 0.5},
      {"1E", 1e18},
      {"2Ti", 2199023255552.0},
  };
  for (const auto& c : cases) {
    EXPECT_NEAR(parse_quantity(c.text), c.value, std::abs(c.value) * 1e-12) << c.text;
  }
}

TEST(Quantity, RejectsGarbage) {
  for (const char* bad : {"", "eight", "1.2.3", "8 ", " 8", "1x", "Ki", "1KiB", "1e", "1e+", "--1",
                          "0x10", "1i", "."}) {
    EXPECT_THROW(parse_quantity(bad), ManifestError) << '"' << bad << '"';
  }
}

// Custom kinds from YAML: merging, replacing, and every error with file:line:column.
TEST(WorkloadKindsYaml, MergesAndReplaces) {
  std::vector<WorkloadKind> kinds;
  std::vector<Diagnostic> errors;
  merge_workload_kinds_yaml(YAML::Load(R"(
- group: example.com
  kind: Trainer
  podTemplates:
    - template: spec.template
      replicas: [spec.replicas]
- group: example.com
  kind: Trainer
  podTemplates:
    - template: spec.pods[*].template
      replicas: ["spec.pods[*].count"]
)"),
                            "kinds.yaml", kinds, errors);
  ASSERT_TRUE(errors.empty()) << errors[0].to_string();
  ASSERT_EQ(kinds.size(), 1u);
  EXPECT_EQ(kinds[0].pod_templates[0].template_path, "spec.pods[*].template");

  // Used by extraction.
  Policy p = policy();
  p.workload_kinds = kinds;
  nlohmann::json obj = load_fixture("unknown-cr.yaml");
  obj["apiVersion"] = "other.example.com/v1";  // same kind, other group
  EXPECT_FALSE(extract_demand(obj, p).recognized);
  obj["apiVersion"] = "example.com/v1";
  obj["spec"] = {{"pods",
                  {{{"count", 3}, {"template", obj["spec"]["template"]}},
                   {{"template", obj["spec"]["template"]}}}}};
  const WorkloadDemand d = extract_demand(obj, p);
  ASSERT_TRUE(d.recognized);
  EXPECT_EQ(d.total_pods, 4);
  EXPECT_NEAR(d.accelerator_count, 32, 1e-9);
}

TEST(WorkloadKindsYaml, EmbeddedPresetIsValid) {
  const auto text = embedded_file("workload-kinds");
  ASSERT_TRUE(text.has_value());
  std::vector<WorkloadKind> kinds;
  std::vector<Diagnostic> errors;
  merge_workload_kinds_yaml(YAML::Load(std::string(*text)), "workload-kinds.yaml", kinds, errors);
  EXPECT_TRUE(errors.empty()) << errors[0].to_string();
  for (const char* kind :
       {"JobSet", "PyTorchJob", "TFJob", "MPIJob", "RayJob", "RayCluster", "LeaderWorkerSet",
        "TrainJob", "Job", "Workflow", "WorkflowTemplate", "CronWorkflow", "InferenceService"}) {
    EXPECT_TRUE(std::any_of(kinds.begin(), kinds.end(), [&](const WorkloadKind& k) {
      return k.kind == kind;
    })) << kind;
  }
  // The loader merges them into every policy.
  EXPECT_EQ(policy().workload_kinds.size(), kinds.size());
}

struct KindsErrorCase {
  const char* yaml;
  int line;
  int column;
  const char* message;
};

TEST(WorkloadKindsYaml, ErrorsCarryPositions) {
  const KindsErrorCase cases[] = {
      {"- kind: X\n  podTemplates: [{template: spec.t}]\n", 1, 3,
       "missing required field \"group\""},
      {"- group: g\n  kind: X\n", 1, 3, "podTemplates: expected a non-empty sequence"},
      {"- group: g\n  kind: X\n  podTemplates:\n    - template: spec..t\n", 4, 17, "invalid path"},
      {"- group: g\n  kind: X\n  podTemplates:\n    - template: spec.t[0]\n", 4, 17,
       "expected a field name"},
      {"- group: g\n  kind: X\n  podTemplates:\n    - template: spec.t\n      replicas: "
       "[\"spec.a[*].n\"]\n",
       5, 18, "has 1 wildcards but the template path only 0"},
      {"- group: g\n  kind: X\n  podTemplates:\n    - template: spec.a[*].t\n      replicas: "
       "[\"spec.b[*].n\"]\n",
       5, 18, "does not walk the same field"},
      {"- group: g\n  kind: X\n  colour: red\n  podTemplates: [{template: spec.t}]\n", 3, 3,
       "unknown field \"colour\""},
      {"kinds: 3\n", 1, 8, "expected a sequence"},
      {"- group: g\n  kind: X\n  podTemplates:\n    - template: spec.t\n      replicas: spec.n\n",
       5, 17, "replicas: expected a sequence"},
  };
  for (const auto& c : cases) {
    std::vector<WorkloadKind> kinds;
    std::vector<Diagnostic> errors;
    YAML::Node root = YAML::Load(c.yaml);
    if (root.IsMap() && !root["workloadKinds"]) root = root["kinds"];
    merge_workload_kinds_yaml(root, "k.yaml", kinds, errors);
    ASSERT_FALSE(errors.empty()) << c.yaml;
    EXPECT_EQ(errors[0].file, "k.yaml");
    EXPECT_EQ(errors[0].line, c.line) << c.yaml << errors[0].to_string();
    EXPECT_EQ(errors[0].column, c.column) << c.yaml << errors[0].to_string();
    EXPECT_NE(errors[0].message.find(c.message), std::string::npos) << errors[0].to_string();
    EXPECT_TRUE(kinds.empty()) << c.yaml;
  }
}

}  // namespace
}  // namespace exportgate::policy
