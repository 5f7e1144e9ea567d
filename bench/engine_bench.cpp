// Micro benchmarks of the request path without the network: decode the AdmissionReview,
// evaluate (engine alone, and the whole admission handler with the in-memory ledger), encode
// the response, and all of it together, for each benchmark review.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/review_files.hpp"
#include "policy/evaluate.hpp"
#include "policy/tenancy.hpp"
#include "policy/workload.hpp"
#include "webhook/admission_codec.hpp"
#include "webhook/admission_handler.hpp"
#include "webhook/policy_store.hpp"
#include "webhook/usage_ledger.hpp"

namespace {

using namespace exportgate;

// The policy `exportgate serve` runs in bench/run.sh: the embedded default plus the same
// --tenant-namespace flags (team-us in a Tier 1 country, team-sg in a Tier 2 one).
std::shared_ptr<const policy::Policy> bench_policy() {
  static const auto p = [] {
    webhook::PolicyStore store(webhook::PolicySource{"", {{"team-us", "US"}, {"team-sg", "SG"}}});
    store.load();
    return store.current();
  }();
  return p;
}

// The engine as the admission handler calls it: extraction, and for objects with accelerators
// the tenant and the decision (objects without any stop after extraction, as in the handler).
bool evaluate_engine(const webhook::AdmissionRequest& req, const policy::Policy& p) {
  auto demand = policy::extract_demand(req.object, p);
  if (!demand.recognized || !demand.has_accelerators()) return true;
  if (demand.namespace_.empty()) demand.namespace_ = req.namespace_;
  const auto tenant = policy::resolve_tenant(p, req.namespace_, nullptr);
  const auto d = policy::evaluate(demand, tenant, policy::UsageSnapshot{}, p);
  return d.verdict != policy::Verdict::kDeny;
}

void parse(benchmark::State& state, const std::string& body) {
  for (auto _ : state) {
    auto req = webhook::decode_admission_review(body);
    benchmark::DoNotOptimize(req);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void evaluate(benchmark::State& state, const std::string& body) {
  const auto p = bench_policy();
  const auto req = webhook::decode_admission_review(body);
  for (auto _ : state) benchmark::DoNotOptimize(evaluate_engine(req, *p));
}

void handle(benchmark::State& state, const std::string& body) {
  const auto p = bench_policy();
  const auto req = webhook::decode_admission_review(body);
  webhook::InMemoryLedger ledger;
  for (auto _ : state) {
    auto out = webhook::handle_admission(req, webhook::Endpoint::kValidate, *p, ledger);
    benchmark::DoNotOptimize(out);
  }
}

void encode(benchmark::State& state, const std::string& body) {
  const auto p = bench_policy();
  const auto req = webhook::decode_admission_review(body);
  webhook::InMemoryLedger ledger;
  const auto out = webhook::handle_admission(req, webhook::Endpoint::kValidate, *p, ledger);
  for (auto _ : state) {
    auto text = webhook::encode_admission_review(out.response);
    benchmark::DoNotOptimize(text);
  }
}

void total(benchmark::State& state, const std::string& body) {
  const auto p = bench_policy();
  webhook::InMemoryLedger ledger;
  for (auto _ : state) {
    const auto req = webhook::decode_admission_review(body);
    auto out = webhook::handle_admission(req, webhook::Endpoint::kValidate, *p, ledger);
    auto text = webhook::encode_admission_review(out.response);
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

// Registered at start-up so a missing review file shows as a benchmark error, not a crash.
struct Cases {
  Cases() {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"cpu_pod", "cpu-pod-web"},
        {"gpu_pod_pinned", "gpu-pod-h100-pinned"},
        {"gpu_pod_unpinned", "gpu-pod-unpinned"},
        {"gpu_pod_mig_tier2", "gpu-pod-mig-tier2"},
        {"deployment", "gpu-deployment"},
        {"pod_50_containers", "pod-50-containers"},
        {"large_review_1MiB", ""},
    };
    using Fn = void (*)(benchmark::State&, const std::string&);
    const std::vector<std::pair<std::string, Fn>> steps = {
        {"parse", parse},   {"evaluate", evaluate}, {"handle", handle},
        {"encode", encode}, {"total", total},
    };
    for (const auto& [label, file] : cases) {
      auto body = std::make_shared<std::string>();
      std::string error;
      try {
        *body = file.empty() ? bench::large_review() : bench::read_review(file);
      } catch (const std::exception& e) {
        error = e.what();
      }
      for (const auto& [step, fn] : steps) {
        benchmark::RegisterBenchmark((step + "/" + label).c_str(),
                                     [body, error, fn = fn](benchmark::State& state) {
                                       if (!error.empty()) {
                                         state.SkipWithError(error.c_str());
                                         return;
                                       }
                                       fn(state, *body);
                                     });
      }
    }
  }
} const cases;

}  // namespace
