// A WorkloadDemand as extract_demand charges a Pod whose request is pinned to one catalog model:
// `count` devices in one Pod, the .a part counted when the model is controlled. The policy tests
// decide on it without going through a manifest.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "policy/catalog.hpp"
#include "policy/evaluate.hpp"

namespace exportgate::testing {

struct PodPlace {
  std::string resource = "nvidia.com/gpu";
  std::string name = "p";
  std::string namespace_ = "team";
};

inline policy::WorkloadDemand pinned_demand(const std::string& model_id, double count,
                                            const PodPlace& place = {}) {
  const policy::AcceleratorModel* m = policy::builtin_catalog().find_model(model_id);
  EXPECT_NE(m, nullptr) << model_id;
  policy::AcceleratorDemand a;
  a.resource = place.resource;
  a.model_id = m->id;
  a.model_name = m->display_name;
  a.quantity = count;
  a.tpp_per_pod = count * m->tpp;
  a.export_class = m->export_class;
  a.pinned = true;
  policy::PodSetDemand ps;
  ps.tpp_per_pod = a.tpp_per_pod;
  ps.accelerators.push_back(a);
  policy::WorkloadDemand d;
  d.kind = "Pod";
  d.name = place.name;
  d.namespace_ = place.namespace_;
  d.pod_sets.push_back(ps);
  d.total_pods = 1;
  d.total_tpp = a.tpp_per_pod;
  d.controlled_tpp = policy::is_controlled(m->export_class) ? a.tpp_per_pod : 0;
  d.max_class = m->export_class;
  d.accelerator_count = count;
  return d;
}

}  // namespace exportgate::testing
