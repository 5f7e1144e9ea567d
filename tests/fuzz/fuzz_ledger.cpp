// libFuzzer target: a TPPLedger object as the watch or a GET delivers it (the ledger decoder)
// and the ledger arithmetic on whatever it decodes to. Decoding either succeeds or throws
// LedgerFormatError; a decoded state encodes and decodes again; a reservation or a lease that
// try_reserve or a flush adds never leaves a cap passed by it; the reconciler's correction never
// throws.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "tests/fuzz/fuzz_support.hpp"
#include "webhook/lease_book.hpp"
#include "webhook/ledger_cluster.hpp"
#include "webhook/ledger_model.hpp"
#include "webhook/usage_ledger.hpp"

using namespace exportgate;
using namespace exportgate::webhook;

namespace {

constexpr double kPod = 126656;

LedgerReservation admission(const std::string& uid, const std::string& tenant, double tpp) {
  LedgerReservation r;
  r.uid = uid;
  r.tenant = tenant;
  r.tpp = tpp;
  r.namespace_ = tenant;
  r.pod = uid;
  r.created = std::chrono::system_clock::now();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json object = nlohmann::json::parse(text, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return 0;
  LedgerEntry entry;
  try {
    entry = ledger_entry_from_object(object);
  } catch (const LedgerFormatError&) {
    return 0;
  }
  LedgerState& state = entry.state;
  try {
    (void)ledger_from_spec(ledger_to_spec(state));
  } catch (const LedgerFormatError& e) {
    fuzz::fail(std::string("a decoded ledger does not decode again once encoded: ") + e.what());
  }
  const std::string tenant = state.tenants.empty() ? "acme" : state.tenants.begin()->first;
  const double used = state.tenant_total(tenant);
  const double cap = (std::isfinite(used) ? used : 0) + 20 * kPod;
  // A reservation is accepted only within the caps it is checked against.
  {
    LedgerState s = state;
    const bool held = s.holds("fuzz-uid");
    if (try_reserve(s, admission("fuzz-uid", tenant, kPod), cap, std::nullopt) && !held &&
        !within_caps(s.tenant_total(tenant), cap, s.total(), std::nullopt)) {
      fuzz::fail("try_reserve accepted a reservation past the tenant cap");
    }
  }
  // A lease granted (or grown) by a flush fits the caps its requests are checked against.
  {
    LeaseSettings settings;
    settings.enabled = true;
    settings.holder = "fuzz/1";
    LeaseBook book(settings);
    const auto now = std::chrono::steady_clock::now();
    book.try_consume(state.jurisdiction, admission("seed", tenant, kPod), cap, std::nullopt, now);
    LedgerState s = state;
    const double before = s.leased(tenant);
    const auto token = book.begin(state.jurisdiction);
    if (book.plan(state.jurisdiction, token, s, std::chrono::system_clock::now(), now) &&
        s.leased(tenant) > before + 1e-6 &&
        !within_caps(s.tenant_total(tenant), cap, s.total(), std::nullopt)) {
      fuzz::fail("a lease grew past the tenant cap");
    }
    book.finish(state.jurisdiction, token, LeaseBook::Outcome::kWritten, now);
    for (int i = 0; i < 4; ++i) {
      book.try_consume(state.jurisdiction, admission("p" + std::to_string(i), tenant, kPod), cap,
                       std::nullopt, now);
    }
    if (book.unused(state.jurisdiction, tenant, s) < 0) fuzz::fail("negative unused headroom");
  }
  // The reconciler's correction with no Pods: everything in use ends, reservations stay or expire.
  {
    LedgerState s = state;
    ReconcileInput input;
    input.now = std::chrono::system_clock::now();
    for (const auto& l : s.leases) input.expired_leases.insert(lease_key(l));
    (void)reconcile_ledger(s, input);
    if (!s.leases.empty()) fuzz::fail("an expired lease survived the reconcile");
  }
  return 0;
}
