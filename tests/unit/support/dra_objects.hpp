// DRA objects as NVIDIA's DRA driver publishes them (a DeviceClass that selects on the driver, a
// node's ResourceSlice of H100s), and the sinks through which cluster mode's DRA informers fill
// DraCaches: what the DRA tests of the audit, admission and reconciler build alike.
#pragma once

#include <map>
#include <string>

#include "webhook/kube_dra_cache.hpp"

namespace exportgate::testing {

inline constexpr const char* kNvidiaGpuClass = R"(
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.nvidia.com}
spec:
  selectors:
  - cel: {expression: "device.driver == 'gpu.nvidia.com'"}
)";

// The ResourceSlice of `node` (its own pool) with `devices` H100s, gpu-0 onwards.
inline std::string h100_slice(const std::string& node, int devices) {
  std::string yaml =
      "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: " + node +
      "}\nspec:\n  driver: gpu.nvidia.com\n  nodeName: " + node + "\n  pool: {name: " + node +
      ", generation: 1, resourceSliceCount: 1}\n  devices:\n";
  for (int i = 0; i < devices; ++i) {
    yaml += "  - {name: gpu-" + std::to_string(i) +
            ", attributes: {type: {string: gpu}, productName: {string: NVIDIA H100 80GB HBM3}}}\n";
  }
  return yaml;
}

// The sinks that `caches` registers, by resource ("deviceclasses", "resourceslices", ...).
inline std::map<std::string, webhook::InformerSink> dra_informer_sinks(webhook::DraCaches& caches) {
  std::map<std::string, webhook::InformerSink> sinks;
  caches.add_informers([&](std::string path, webhook::InformerSink sink) {
    sinks[path.substr(path.rfind('/') + 1)] = std::move(sink);
  });
  return sinks;
}

}  // namespace exportgate::testing
