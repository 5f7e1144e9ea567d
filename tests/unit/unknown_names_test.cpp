// Unknown is the worst case (issue 13): accelerator-like resource names, node label values and
// affinity values the catalog does not know are charged as the most capable model they could be;
// the denial names the value and how an admin declares it (spec.catalog or spec.ignore). Device
// access outside requests/limits is charged as an unpinned request.
#include <gtest/gtest.h>

#include <map>

#include "policy/accelerator_names.hpp"
#include "policy/errors.hpp"
#include "policy/evaluate.hpp"
#include "policy/policy_loader.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"
#include "policy/workload_device_access.hpp"

namespace exportgate::policy {
namespace {

using json = nlohmann::json;

const Policy& preset() {
  static const Policy p = load_preset(kDefaultPreset);
  return p;
}

// The most capable model of `vendor` ("" = whole catalog), computed here, not by the code under
// test.
std::string worst_of(const std::string& vendor) {
  const AcceleratorModel* best = nullptr;
  for (const auto& m : preset().catalog.models) {
    if ((vendor.empty() || m.vendor == vendor) && (!best || m.tpp > best->tpp)) best = &m;
  }
  return best ? best->id : "";
}

json pod(json resources, json extra_spec = json::object()) {
  json spec = {
      {"containers",
       json::array({{{"name", "app"}, {"image", "x"}, {"resources", {{"limits", resources}}}}})}};
  for (auto it = extra_spec.begin(); it != extra_spec.end(); ++it) spec[it.key()] = it.value();
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", "team-a"}}},
          {"spec", spec}};
}

json node_selector(const std::string& key, const std::string& value) {
  return {{"nodeSelector", {{key, value}}}};
}

json affinity_in(const std::string& key, std::vector<std::string> values) {
  return {{"affinity",
           {{"nodeAffinity",
             {{"requiredDuringSchedulingIgnoredDuringExecution",
               {{"nodeSelectorTerms",
                 json::array({{{"matchExpressions", json::array({{{"key", key},
                                                                  {"operator", "In"},
                                                                  {"values", values}}})}}})}}}}}}}};
}

const AcceleratorDemand& only(const WorkloadDemand& d) {
  EXPECT_EQ(d.pod_sets.size(), 1u);
  EXPECT_EQ(d.pod_sets.at(0).accelerators.size(), 1u);
  return d.pod_sets.at(0).accelerators.at(0);
}

std::string joined_notes(const WorkloadDemand& d) {
  std::string out;
  for (const auto& n : d.notes) out += n + "\n";
  return out;
}

TEST(AcceleratorNames, VendorDomainsAndWordsAreAcceleratorLike) {
  for (const char* r :
       {"nvidia.com/gpu.shared", "nvidia.com/GH100_H100_SXM5_80GB", "nvidia.com/mig-1g.23gb",
        "nvidia.com/NVIDIA_H100_80GB_HBM3", "amd.com/gpu-partition", "habana.ai/gaudi3",
        "aws.amazon.com/neuroncore-v3", "google.com/tpu-v7", "intel.com/gpu-flex",
        "gpu.intel.com/xe", "example.com/vgpu", "cloud-tpus.google.com/v3", "squat.ai/NPU",
        "example.com/accelerator", "volcano.sh/vgpu-number", "huawei.com/Ascend910"}) {
    EXPECT_TRUE(looks_like_accelerator(r)) << r;
  }
  for (const char* r :
       {"cpu", "memory", "hugepages-2Mi", "example.com/output", "example.com/input",
        "example.com/fpga", "example.com/migration", "rdma/rdma_shared_device_a",
        "kubernetes.io/gpu", "foo.kubernetes.io/gpu", "vpc.amazonaws.com/efa", "/gpu", ""}) {
    EXPECT_FALSE(looks_like_accelerator(r)) << r;
  }
  EXPECT_EQ(registrable_domain("gpu.intel.com/xe"), "intel.com");
  EXPECT_EQ(registrable_domain("aws.amazon.com/neuron"), "amazon.com");
  EXPECT_EQ(registrable_domain("habana.ai/gaudi"), "habana.ai");
}

// Old code: a resource not in the catalog was "no accelerators" (admitted everywhere).
TEST(UnknownResource, ChargedAsTheVendorsMostCapableModel) {
  const std::map<std::string, std::string> cases = {
      {"nvidia.com/GH100_FUTURE_96GB", "NVIDIA"},
      {"nvidia.com/mig-1g.23gb", "NVIDIA"},
      {"amd.com/gpu-cpx", "AMD"},
      {"habana.ai/gaudi4", "Intel"},
      {"gpu.intel.com/i915-next", "Intel"},
      {"intel.com/gpu-flex", "Intel"},
      {"aws.amazon.com/neuroncore-v3", "AWS"},
      {"google.com/tpu-v7", "Google"},
      {"cloud-tpus.google.com/v3", "Google"},
      {"example.com/npu", ""},
  };
  for (const auto& [resource, vendor] : cases) {
    const WorkloadDemand d = extract_demand(pod({{resource, 2}}), preset());
    ASSERT_TRUE(d.has_accelerators()) << resource;
    const AcceleratorDemand& a = only(d);
    EXPECT_EQ(a.model_id, worst_of(vendor)) << resource;
    EXPECT_FALSE(a.pinned) << resource;
    EXPECT_EQ(a.quantity, 2) << resource;
    ASSERT_EQ(d.notes.size(), 1u) << resource;
    EXPECT_NE(d.notes[0].find("\"" + resource + "\""), std::string::npos) << d.notes[0];
    EXPECT_NE(d.notes[0].find("spec.ignore.resources"), std::string::npos) << d.notes[0];
    EXPECT_NE(d.notes[0].find("spec.catalog"), std::string::npos) << d.notes[0];
  }
}

// Pinning to a known model does not make an unknown resource that model, and neither does the
// cluster inventory: the name itself is what the catalog cannot interpret.
TEST(UnknownResource, NeitherPinsNorInventoryLowerIt) {
  const std::vector<std::string> available = {"l4"};
  ExtractOptions options;
  options.available_models = &available;
  const WorkloadDemand d = extract_demand(
      pod({{"nvidia.com/vgpu-8q", 1}}, node_selector("nvidia.com/gpu.product", "NVIDIA-L4")),
      preset(), options);
  EXPECT_EQ(only(d).model_id, worst_of("NVIDIA"));
}

TEST(UnknownResource, DeniedWhereControlledAcceleratorsAreNotAllowedWithTheValueNamed) {
  const WorkloadDemand d = extract_demand(pod({{"nvidia.com/GH100_FUTURE_96GB", 1}}), preset());
  TenantContext t = resolve_tenant(preset(), "team-a", nullptr);
  t.jurisdiction = "CN";
  t.tier = preset().tier_of("CN");
  const Decision decision = evaluate(d, t, {}, preset());
  ASSERT_EQ(decision.verdict, Verdict::kDeny);
  ASSERT_FALSE(decision.reasons.empty());
  EXPECT_NE(decision.reasons[0].find("nvidia.com/GH100_FUTURE_96GB"), std::string::npos)
      << decision.reasons[0];
  EXPECT_NE(decision.reasons[0].find("spec.ignore"), std::string::npos) << decision.reasons[0];
}

TEST(KnownResource, DevicePluginNamesAreInTheCatalog) {
  const Catalog& c = preset().catalog;
  for (const char* r :
       {"nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-1g.10gb",
        "nvidia.com/mig-1g.10gb.shared", "amd.com/gpu", "habana.ai/gaudi", "aws.amazon.com/neuron",
        "aws.amazon.com/neuroncore", "gpu.intel.com/i915", "gpu.intel.com/xe", "google.com/tpu"}) {
    EXPECT_EQ(c.classify_resource(r), ResourceClass::kKnown) << r;
  }
  // A time-sliced MIG slice counts as its profile's fraction, pinned like the profile.
  const WorkloadDemand d =
      extract_demand(pod({{"nvidia.com/mig-1g.10gb.shared", 1}},
                         node_selector("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB")),
                     preset());
  EXPECT_EQ(only(d).model_id, "a100");
  EXPECT_NEAR(only(d).device_fraction, 1.0 / 7, 1e-12);
  EXPECT_TRUE(d.notes.empty());
  // GPU feature discovery labels a shared GPU's product with "-SHARED".
  const WorkloadDemand shared =
      extract_demand(pod({{"nvidia.com/gpu.shared", 1}},
                         node_selector("nvidia.com/gpu.product", "NVIDIA-L4-SHARED")),
                     preset());
  EXPECT_EQ(only(shared).model_id, "l4");
  EXPECT_TRUE(only(shared).pinned);
}

// Old code: nodeSelector on an unknown product value was ignored and the unpinned charge took
// the cluster's inventory (here L4 only): an unknown H100 variant was charged as an L4.
TEST(UnknownLabel, NodeSelectorValueIsTheWorstCaseNotTheInventory) {
  const std::vector<std::string> available = {"l4"};
  ExtractOptions options;
  options.available_models = &available;
  const WorkloadDemand d = extract_demand(
      pod({{"nvidia.com/gpu", 1}}, node_selector("nvidia.com/gpu.product", "NVIDIA-H100-NEW")),
      preset(), options);
  EXPECT_EQ(only(d).model_id, worst_of("NVIDIA"));
  EXPECT_FALSE(only(d).pinned);
  EXPECT_NE(joined_notes(d).find("nvidia.com/gpu.product=NVIDIA-H100-NEW"), std::string::npos);
  EXPECT_NE(joined_notes(d).find("spec.ignore.nodeLabels"), std::string::npos);
}

// Old code: In [NVIDIA-L4, unknown] pinned the pod to the L4.
TEST(UnknownLabel, AffinityInListMixingKnownAndUnknownIsTheWorstCase) {
  const WorkloadDemand d =
      extract_demand(pod({{"nvidia.com/gpu", 1}},
                         affinity_in("nvidia.com/gpu.product", {"NVIDIA-L4", "NVIDIA-X999"})),
                     preset());
  EXPECT_EQ(only(d).model_id, worst_of("NVIDIA"));
  EXPECT_FALSE(only(d).pinned);
  EXPECT_NE(joined_notes(d).find("NVIDIA-X999"), std::string::npos);

  // Known values only: still pinned to the most capable of them.
  const WorkloadDemand known =
      extract_demand(pod({{"nvidia.com/gpu", 1}},
                         affinity_in("nvidia.com/gpu.product", {"NVIDIA-L4", "NVIDIA-H20"})),
                     preset());
  EXPECT_TRUE(only(known).pinned);
  EXPECT_TRUE(known.notes.empty());
}

TEST(UnknownLabel, IgnoredValuesAndUnrelatedKeysDoNotCount) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: ignore}
spec:
  ignore:
    nodeLabels:
      node.kubernetes.io/instance-type: [m7i.large]
)",
                               "ignore.yaml");
  const WorkloadDemand d = extract_demand(
      pod({{"nvidia.com/gpu", 1}},
          affinity_in("node.kubernetes.io/instance-type", {"p4d.24xlarge", "m7i.large"})),
      p);
  EXPECT_EQ(only(d).model_id, "a100");
  EXPECT_TRUE(only(d).pinned);
  const WorkloadDemand host = extract_demand(
      pod({{"nvidia.com/gpu", 1}}, node_selector("kubernetes.io/hostname", "node-7")), p);
  EXPECT_TRUE(host.notes.empty());
}

TEST(UnknownLabel, InventoryCountsAnUnknownProductAsTheVendorsWorst) {
  const Catalog& c = preset().catalog;
  auto ids = [](const std::vector<const AcceleratorModel*>& ms) {
    std::vector<std::string> out;
    for (const auto* m : ms) out.push_back(m->id);
    return out;
  };
  EXPECT_EQ(ids(c.models_for_node_label("nvidia.com/gpu.product", "NVIDIA-H100-NEW")),
            std::vector<std::string>{worst_of("NVIDIA")});
  EXPECT_EQ(ids(c.models_for_node_label("amd.com/gpu.product-name", "AMD_Instinct_MI400")),
            std::vector<std::string>{worst_of("AMD")});
  EXPECT_EQ(ids(c.models_for_node_label("nvidia.com/gpu.product", "NVIDIA-L4")),
            std::vector<std::string>{"l4"});
  // Instance types are shared by every vendor and by CPU nodes: an unknown one says nothing.
  EXPECT_TRUE(c.models_for_node_label("node.kubernetes.io/instance-type", "m7i.large").empty());
}

TEST(Ignore, ResourcesDeclaredByTheAdminAreNoAccelerators) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: ignore}
spec:
  ignore:
    resources: [nvidia.com/rdma_shared_device_a]
)",
                               "ignore.yaml");
  EXPECT_FALSE(extract_demand(pod({{"nvidia.com/rdma_shared_device_a", 1}}), p).has_accelerators());
  EXPECT_TRUE(
      extract_demand(pod({{"nvidia.com/rdma_shared_device_a", 1}}), preset()).has_accelerators());
  // The preset declares the GPU-sharing schedulers' memory and core amounts.
  EXPECT_FALSE(extract_demand(pod({{"nvidia.com/gpumem", 16000}}), preset()).has_accelerators());
}

TEST(Ignore, CatalogNamesAndPatternsAreRejected) {
  const auto load = [](const std::string& ignore) {
    return load_policy(
        "apiVersion: exportgate.io/v1alpha1\nkind: Policy\nmetadata: {name: x}\n"
        "spec:\n  ignore:\n" +
            ignore,
        "x.yaml");
  };
  EXPECT_THROW(load("    resources: [nvidia.com/gpu]\n"), PolicyError);
  EXPECT_THROW(load("    resources: [nvidia.com/gpu.shared]\n"), PolicyError);
  EXPECT_THROW(load("    resources: [nvidia.com/*]\n"), PolicyError);
  EXPECT_THROW(load("    resources: [gpu]\n"), PolicyError);
  EXPECT_THROW(load("    nodeLabels: {nvidia.com/gpu.product: [NVIDIA-H100-80GB-HBM3]}\n"),
               PolicyError);
  EXPECT_THROW(load("    nodeLabels: {nvidia.com/gpu.product: [NVIDIA-*]}\n"), PolicyError);
  try {
    load("    resources: [nvidia.com/gpu]\n");
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be ignored"), std::string::npos) << e.what();
  }
  const Policy a = load("    resources: [example.com/gpu-tool]\n");
  const Policy b = load("    resources: [example.com/gpu-other]\n");
  EXPECT_NE(a.hash, b.hash);
}

// Device access outside requests/limits. Old code: none of these pods had accelerators.
TEST(DeviceAccess, NvidiaVisibleDevicesIsAnUnpinnedNvidiaRequest) {
  auto with_env = [](const std::string& value) {
    json p = pod(json::object());
    p["spec"]["containers"][0]["env"] =
        json::array({{{"name", "NVIDIA_VISIBLE_DEVICES"}, {"value", value}}});
    return p;
  };
  const WorkloadDemand all = extract_demand(with_env("all"), preset());
  ASSERT_TRUE(all.has_accelerators());
  EXPECT_EQ(only(all).model_id, worst_of("NVIDIA"));
  EXPECT_EQ(only(all).quantity, kWholeNodeDevices);
  EXPECT_FALSE(only(all).pinned);
  EXPECT_NE(joined_notes(all).find("NVIDIA_VISIBLE_DEVICES=all"), std::string::npos);
  EXPECT_NE(joined_notes(all).find("spec.deviceAccessExempt"), std::string::npos);
  EXPECT_EQ(only(extract_demand(with_env("0,1"), preset())).quantity, 2);
  for (const char* none : {"", "void", "none"}) {
    EXPECT_FALSE(extract_demand(with_env(none), preset()).has_accelerators()) << none;
  }
}

TEST(DeviceAccess, PrivilegedAndHostDevIsTheWorstOfTheCatalog) {
  json privileged = pod(json::object());
  privileged["spec"]["containers"][0]["securityContext"] = {{"privileged", true}};
  const WorkloadDemand d = extract_demand(privileged, preset());
  ASSERT_TRUE(d.has_accelerators());
  EXPECT_EQ(only(d).model_id, worst_of(""));

  for (const char* path : {"/dev", "/dev/", "/dev/nvidia0", "/dev/../dev/dri", "/dev/accel",
                           "/dev/neuron0", "/", "//dev//kfd"}) {
    json host = pod(json::object());
    host["spec"]["volumes"] = json::array({{{"name", "d"}, {"hostPath", {{"path", path}}}}});
    EXPECT_TRUE(extract_demand(host, preset()).has_accelerators()) << path;
  }
  json shm = pod(json::object());
  shm["spec"]["volumes"] = json::array({{{"name", "d"}, {"hostPath", {{"path", "/dev/shm"}}}}});
  EXPECT_FALSE(extract_demand(shm, preset()).has_accelerators());
  EXPECT_EQ(normalize_host_path("/dev/../dev//nvidia0/"), "/dev/nvidia0");
}

TEST(DeviceAccess, PinnedNodesChargeTheirModel) {
  json p = pod(json::object(), node_selector("nvidia.com/gpu.product", "NVIDIA-L4"));
  p["spec"]["containers"][0]["env"] =
      json::array({{{"name", "NVIDIA_VISIBLE_DEVICES"}, {"value", "all"}}});
  const WorkloadDemand d = extract_demand(p, preset());
  EXPECT_EQ(only(d).model_id, "l4");
  EXPECT_TRUE(only(d).pinned);
}

TEST(DeviceAccess, ExemptNamespacesAreExactNames) {
  const Policy p = load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: agents}
spec:
  deviceAccessExempt: [gpu-operator]
)",
                               "agents.yaml");
  json agent = pod(json::object());
  agent["spec"]["containers"][0]["securityContext"] = {{"privileged", true}};
  agent["metadata"]["namespace"] = "gpu-operator";
  EXPECT_FALSE(extract_demand(agent, p).has_accelerators());
  // The request's namespace counts when the object names none.
  agent["metadata"].erase("namespace");
  ExtractOptions options;
  options.namespace_ = "gpu-operator";
  EXPECT_FALSE(extract_demand(agent, p, options).has_accelerators());
  options.namespace_ = "gpu-operator-2";
  EXPECT_TRUE(extract_demand(agent, p, options).has_accelerators());
  // Requests of an exempt namespace are still charged.
  json request = pod({{"nvidia.com/gpu", 1}});
  request["metadata"]["namespace"] = "gpu-operator";
  EXPECT_TRUE(extract_demand(request, p).has_accelerators());

  EXPECT_THROW(load_policy(R"(apiVersion: exportgate.io/v1alpha1
kind: Policy
metadata: {name: agents}
spec:
  deviceAccessExempt: [gpu-*]
)",
                           "agents.yaml"),
               PolicyError);
}

}  // namespace
}  // namespace exportgate::policy
