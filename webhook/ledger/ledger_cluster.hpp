// The usage ledger of cluster mode: one TPPLedger object per jurisdiction in the Kubernetes API,
// written with optimistic concurrency (PUT with the resourceVersion read; retry on 409, bounded).
// Concurrent reservations of one replica are grouped into one write ("group commit"), so the
// conflicts that remain are between replicas, not between requests. The reconciler's result rides
// in the same writes (transform()), so it never races its own replica's admissions.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "webhook/kube_client.hpp"
#include "webhook/kube_informer.hpp"
#include "webhook/lease_book.hpp"
#include "webhook/ledger_model.hpp"
#include "webhook/log.hpp"
#include "webhook/usage_ledger.hpp"

namespace exportgate::webhook {

class Metrics;

struct LedgerEntry {
  std::string resource_version;
  nlohmann::json metadata;  // kept so a PUT preserves labels and annotations
  LedgerState state;
};

struct LedgerOptions {
  std::string namespace_;                     // where the TPPLedger objects live
  std::chrono::milliseconds deadline{3'000};  // a reservation gives up after this
  int max_attempts = 16;                      // compare-and-swap attempts per write
  LeaseSettings leases;                       // leased headroom; off unless enabled
};

// What a read-modify-write step wants done with the state it was given.
struct LedgerEdit {
  bool write = false;       // PUT (or create) the modified state
  bool need_fresh = false;  // the state came from the cache: read it from the API and call again
};

class ClusterLedger : public UsageLedger {
 public:
  ClusterLedger(KubeClient& client, LedgerOptions options, Metrics* metrics, Logger& log);
  ~ClusterLedger() override;

  // Feeds the ledger cache from an Informer on the TPPLedger collection.
  InformerSink sink(std::function<void()> changed = nullptr);
  std::string collection_path() const;

  policy::UsageSnapshot snapshot(const std::string& tenant,
                                 const std::string& jurisdiction) const override;
  // Reserves under the caps; uncapped requests need no ledger and return true at once.
  bool reserve(const Reservation& r, std::optional<double> tenant_cap,
               std::optional<double> jurisdiction_cap) override;
  // Pods free their TPP through the reconciler (it sees them finish or go); nothing here.
  std::optional<Reservation> release(const std::string& key) override;
  UsageTotals totals() const override;
  double headroom(const std::string& jurisdiction, const std::string& link) const override;
  // Before a cap denial: when other leases hold room in the jurisdiction, marks the ledger for
  // their holders to give it back and waits (at most the ledger deadline) until they have.
  bool reclaim(const std::string& jurisdiction, const std::string& tenant) override;
  // Moves this replica's lease admissions of `jurisdiction` into reservations and resizes its
  // leases (the flusher does this every flush interval). Returns whether it wrote.
  bool flush_leases(const std::string& jurisdiction);
  // From the Pod watch: a stored Pod carrying admission uid `claim_uid`, at `revision`
  // (LeaseBook::pod_seen).
  void pod_seen(const std::string& claim_uid, const PodClaim& pod, std::uint64_t revision) {
    if (book_) book_->pod_seen(claim_uid, pod, revision);
  }

  // Read-modify-write of one jurisdiction's object with compare-and-swap. `edit` gets the state
  // (a fresh copy on each attempt) and whether it was just read from the API. Returns whether a
  // write happened. Throws LedgerUnavailable.
  bool update(const std::string& jurisdiction,
              const std::function<LedgerEdit(LedgerState&, bool fresh)>& edit);

  // A change of the whole state (the reconciler's) that rides in this replica's next group-commit
  // write for the jurisdiction instead of racing it: applied first, to the state every attempt
  // starts from (the cache, then each fresh read), then the batch's reservations are decided on
  // the result. `change` returns whether it changed anything and must be safe to apply to any
  // state newer than the one it was computed for. It must own what it uses: a batch in flight
  // may still apply it after transform() has given up and thrown. Returns whether a write
  // carried it. Throws LedgerUnavailable.
  bool transform(const std::string& jurisdiction, std::function<bool(LedgerState&)> change);

  // Every cached ledger, by jurisdiction.
  std::map<std::string, std::shared_ptr<const LedgerEntry>> entries() const;

 private:
  struct Pending;
  struct Committer;
  // Queues `p` in the jurisdiction's group commit and waits for its write (or writes the batch).
  void submit(const std::string& jurisdiction, const std::shared_ptr<Pending>& p);
  // Writes a batch; returns whether a write happened (errors are stored in each Pending).
  bool commit(const std::string& jurisdiction, std::vector<std::shared_ptr<Pending>>& batch);
  void drop_abandoned(const std::string& jurisdiction, const std::vector<std::string>& uids);
  std::shared_ptr<const LedgerEntry> fetch(const std::string& jurisdiction);
  void remember(const std::string& jurisdiction, std::shared_ptr<const LedgerEntry> e);
  std::shared_ptr<const LedgerEntry> cached(const std::string& jurisdiction) const;
  Committer& committer(const std::string& jurisdiction);
  std::string object_path(const std::string& jurisdiction) const;

  KubeClient& client_;
  LedgerOptions options_;
  Metrics* metrics_;
  Logger& log_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const LedgerEntry>> entries_;
  std::map<std::string, std::unique_ptr<Committer>> committers_;
  std::shared_ptr<LeaseBook> book_;  // null when leases are off
  // One flush at a time: the book's outcome of a write must be that of the plan it carried.
  std::mutex flush_mu_;
  // The flusher: every flush interval, each jurisdiction this replica leases in.
  std::mutex flusher_mu_;
  std::condition_variable flusher_cv_;
  bool stopping_ = false;
  std::thread flusher_;  // last: stopped before the members it uses go
  void flusher_loop();
};

// Parses a TPPLedger object. Throws LedgerFormatError.
LedgerEntry ledger_entry_from_object(const nlohmann::json& object);

}  // namespace exportgate::webhook
