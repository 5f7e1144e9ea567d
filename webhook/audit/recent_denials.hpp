// Recent admission denials per namespace, for the tenants' PolicyReports (issue 17): a tenant
// sees what was refused in its namespace, not only what runs. Bounded: at most `per_namespace`
// entries per namespace (one per object, kind and code, with a count), `namespaces` namespaces,
// each entry kept `ttl` after its last denial. In memory of the replica that denied: the Lease
// holder writes the reports, so with several replicas a report shows the holder's denials
// (docs/operations.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace exportgate::webhook {

struct RecentDenial {
  std::string kind;
  std::string name;
  std::string code;
  std::string reason;  // the first denial reason, one line
  std::string tenant;
  std::string jurisdiction;
  double tpp = 0;
  uint64_t count = 0;  // denials of this object and code within the window
  std::chrono::system_clock::time_point last;
};

struct RecentDenialLimits {
  size_t per_namespace = 10;
  size_t namespaces = 1'000;
  std::chrono::seconds ttl{3'600};
};

class RecentDenials {
 public:
  explicit RecentDenials(RecentDenialLimits limits = {}) : limits_(limits) {}

  // Takes a decision record (admission_handler.cpp decision_record) whose decision is "deny";
  // ignores anything else, dry runs and records without a namespace.
  void record(const nlohmann::json& decision, std::chrono::system_clock::time_point now);
  // The entries still within the ttl, newest first, by namespace.
  std::map<std::string, std::vector<RecentDenial>> snapshot(
      std::chrono::system_clock::time_point now) const;

 private:
  RecentDenialLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<RecentDenial>> by_namespace_;
};

}  // namespace exportgate::webhook
