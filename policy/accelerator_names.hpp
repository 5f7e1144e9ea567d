// Which extended-resource names look like accelerators although the catalog does not list them.
// An export-control gate fails closed: such a name is charged as the most capable model it could
// be, so the heuristic errs towards "accelerator" (an admin declares exceptions in the policy's
// spec.ignore). See docs/catalog.md, "Names the catalog does not know".
#pragma once

#include <string_view>

namespace exportgate::policy {

// True for a domain-qualified name (not cpu, memory, hugepages-*, nor the reserved
// kubernetes.io / k8s.io domains) that either belongs to a vendor domain whose device plugins
// advertise only accelerators (nvidia.com, amd.com, habana.ai) or has a name token that starts or
// ends with an accelerator word (gpu, tpu, npu, xpu, ipu, neuron, accel, gaudi, ascend, mlu, dcu,
// or the token "mig"): "nvidia.com/gpu.shared", "example.com/vgpu", "cloud-tpus.google.com/v3",
// "aws.amazon.com/neuroncore-v3". Not "example.com/output" or "example.com/fpga".
bool looks_like_accelerator(std::string_view resource);

// The registrable part of a resource's domain, used to find its vendor in the catalog:
// "gpu.intel.com/i915" -> "intel.com", "aws.amazon.com/neuron" -> "amazon.com",
// "habana.ai/gaudi" -> "habana.ai"; "" without a domain.
std::string_view registrable_domain(std::string_view resource);

}  // namespace exportgate::policy
