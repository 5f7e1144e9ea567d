// The sum of a counter family's series in a Metrics registry, as a scrape would show it: what the
// unit tests read to see that a path was taken (a ledger conflict, a lease admission, a pass).
#pragma once

#include <string>

#include "webhook/metrics.hpp"

namespace exportgate::testing {

inline double counter_total(const webhook::Metrics& m, const std::string& name) {
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != name) continue;
    double sum = 0;
    for (const auto& metric : family.metric) sum += metric.counter.value;
    return sum;
  }
  return 0;
}

}  // namespace exportgate::testing
