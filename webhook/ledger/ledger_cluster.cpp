// The Kubernetes-API-backed usage ledger (see ledger_cluster.hpp).
#include "webhook/ledger_cluster.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "webhook/backoff.hpp"
#include "webhook/metrics.hpp"
#include "webhook/resource_version.hpp"

namespace exportgate::webhook {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

struct ClusterLedger::Pending {
  LedgerReservation r;
  std::optional<double> tenant_cap;
  std::optional<double> jurisdiction_cap;
  // Set instead of `r`: a change of the whole state (transform()), applied before reservations.
  std::function<bool(LedgerState&)> change;
  bool changed = false;  // the batch's last edit: `change` changed something
  bool done = false;
  bool accepted = false;
  bool added = false;  // the batch's last edit added this reservation (it was not held before)
  bool wrote = false;  // `change` changed something and the batch was written
  // The caller timed out and was told so while this was in a batch being written: the writer
  // leaves it out, or removes it again when the write already carried it.
  std::atomic<bool> abandoned{false};
  std::exception_ptr error;
};

struct ClusterLedger::Committer {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<Pending>> queue;
  bool active = false;  // a thread is writing a batch for this jurisdiction
};

namespace {

// resourceVersions are opaque, but etcd's are increasing integers; when both parse, the larger
// one is newer. Otherwise the later arrival wins.
bool newer_or_unknown(const std::string& a, const std::string& b) {
  const auto x = parse_resource_version(a);
  const auto y = parse_resource_version(b);
  return !x || !y || *x >= *y;
}

// Before re-reading after a conflict: 0 to 1, 2, 4 ... 50 ms by attempt, at random, so replicas
// that collided do not collide again in step.
void jitter_sleep(int attempt) {
  thread_local Backoff backoff(std::chrono::milliseconds(1), std::chrono::milliseconds(50), 0,
                               Backoff::Jitter::kFull);
  std::this_thread::sleep_for(backoff.delay(attempt));
}

}  // namespace

LedgerEntry ledger_entry_from_object(const json& object) {
  LedgerEntry e;
  e.metadata = object.value("metadata", json::object());
  e.resource_version = e.metadata.value("resourceVersion", "");
  e.state = ledger_from_spec(object.value("spec", json::object()));
  return e;
}

ClusterLedger::ClusterLedger(KubeClient& client, LedgerOptions options, Metrics* metrics,
                             Logger& log)
    : client_(client), options_(std::move(options)), metrics_(metrics), log_(log) {
  if (options_.leases.enabled) {
    book_ = std::make_shared<LeaseBook>(options_.leases);
    flusher_ = std::thread([this] { flusher_loop(); });
  }
}

ClusterLedger::~ClusterLedger() {
  if (flusher_.joinable()) {
    {
      std::lock_guard lock(flusher_mu_);
      stopping_ = true;
    }
    flusher_cv_.notify_all();
    flusher_.join();
  }
}

void ClusterLedger::flusher_loop() {
  std::unique_lock lock(flusher_mu_);
  while (!stopping_) {
    flusher_cv_.wait_for(lock, options_.leases.flush_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    for (const auto& j : book_->jurisdictions()) flush_leases(j);
    lock.lock();
  }
  lock.unlock();
  // Going away: hand every lease back (and flush what was admitted), so its room is not locked
  // up until the reconciler expires it.
  for (const auto& j : book_->jurisdictions()) {
    book_->give_back(j, Steady::now());
    flush_leases(j);
  }
}

bool ClusterLedger::flush_leases(const std::string& jurisdiction) {
  if (!book_) return false;
  std::lock_guard serial(flush_mu_);
  const std::uint64_t token = book_->begin(jurisdiction);
  const auto sent = Steady::now();
  try {
    // Owns the book: a batch may still run the plan after this gave up (it then changes nothing).
    const bool wrote = transform(jurisdiction, [book = book_, jurisdiction, token](LedgerState& s) {
      return book->plan(jurisdiction, token, s, std::chrono::system_clock::now(), Steady::now());
    });
    book_->finish(jurisdiction, token,
                  wrote ? LeaseBook::Outcome::kWritten : LeaseBook::Outcome::kNotWritten, sent);
    return wrote;
  } catch (const LedgerUnavailable& e) {
    book_->finish(jurisdiction, token, LeaseBook::Outcome::kUnknown, sent);
    log_.warn("could not flush leased headroom",
              {{"jurisdiction", jurisdiction}, {"error", e.what()}});
    return false;
  }
}

bool ClusterLedger::reclaim(const std::string& jurisdiction, const std::string& tenant) {
  const std::string self = book_ ? book_->settings().holder : "";
  auto others = [&](const std::shared_ptr<const LedgerEntry>& e) {
    if (!e) return false;
    return std::any_of(e->state.leases.begin(), e->state.leases.end(), [&](const LedgerLease& l) {
      return l.tpp > 0 && !(l.holder == self && l.tenant == tenant);
    });
  };
  if (!others(cached(jurisdiction))) return false;
  if (book_) book_->give_back(jurisdiction, Steady::now());
  const auto deadline = Steady::now() + options_.deadline;
  try {
    const std::string mark = format_time(std::chrono::system_clock::now()) + " " + self;
    transform(jurisdiction, [mark](LedgerState& s) {
      if (s.leases.empty()) return false;
      s.reclaim = mark;
      return true;
    });
    if (book_) flush_leases(jurisdiction);
    // Holders see the mark through their watch and give back at their next flush.
    for (int i = 1; Steady::now() < deadline; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      if (!others(i % 8 == 0 ? fetch(jurisdiction) : cached(jurisdiction))) break;
    }
  } catch (const LedgerUnavailable& e) {
    log_.warn("could not ask leased headroom back",
              {{"jurisdiction", jurisdiction}, {"error", e.what()}});
  }
  return true;
}

std::string ClusterLedger::collection_path() const {
  return std::string("/apis/exportgate.io/v1alpha1/namespaces/") + options_.namespace_ + "/" +
         kLedgerResource;
}

std::string ClusterLedger::object_path(const std::string& jurisdiction) const {
  return collection_path() + "/" + ledger_object_name(jurisdiction);
}

InformerSink ClusterLedger::sink(std::function<void()> changed) {
  auto add = [this](json& o) {
    try {
      auto e = std::make_shared<const LedgerEntry>(ledger_entry_from_object(o));
      remember(e->state.jurisdiction, e);
    } catch (const LedgerFormatError& err) {
      log_.warn("ignoring malformed TPPLedger", {{"name", object_key(o)}, {"error", err.what()}});
    }
  };
  // TPPLedgers are one per jurisdiction: a list is staged whole and applied at its end.
  auto listed = std::make_shared<std::vector<json>>();
  return {[listed](std::vector<json>& items, bool first) {
            if (first) listed->clear();
            for (auto& o : items) listed->push_back(std::move(o));
          },
          [this, add, listed] {
            {
              std::lock_guard lock(mu_);
              entries_.clear();
            }
            for (auto& o : *listed) add(o);
            listed->clear();
          },
          [this, add](WatchEventType type, json& o) {
            if (type == WatchEventType::kDeleted) {
              std::lock_guard lock(mu_);
              for (auto it = entries_.begin(); it != entries_.end(); ++it) {
                if (ledger_object_name(it->first) == o["metadata"].value("name", "")) {
                  entries_.erase(it);
                  break;
                }
              }
              return;
            }
            add(o);
          },
          std::move(changed)};
}

void ClusterLedger::remember(const std::string& jurisdiction,
                             std::shared_ptr<const LedgerEntry> e) {
  std::lock_guard lock(mu_);
  auto& slot = entries_[jurisdiction];
  if (!slot || newer_or_unknown(e->resource_version, slot->resource_version)) slot = std::move(e);
}

std::shared_ptr<const LedgerEntry> ClusterLedger::cached(const std::string& jurisdiction) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(jurisdiction);
  return it == entries_.end() ? nullptr : it->second;
}

std::map<std::string, std::shared_ptr<const LedgerEntry>> ClusterLedger::entries() const {
  std::lock_guard lock(mu_);
  return entries_;
}

std::shared_ptr<const LedgerEntry> ClusterLedger::fetch(const std::string& jurisdiction) {
  auto res = client_.get(object_path(jurisdiction));
  if (res.status == 404) return nullptr;
  if (!res.ok()) {
    throw LedgerUnavailable("reading TPPLedger " + ledger_object_name(jurisdiction) + ": " +
                            res.describe());
  }
  try {
    auto e = std::make_shared<const LedgerEntry>(ledger_entry_from_object(res.json()));
    remember(jurisdiction, e);
    return e;
  } catch (const LedgerFormatError& err) {
    throw LedgerUnavailable("TPPLedger " + ledger_object_name(jurisdiction) +
                            " is malformed: " + err.what());
  }
}

bool ClusterLedger::update(const std::string& jurisdiction,
                           const std::function<LedgerEdit(LedgerState&, bool)>& edit) {
  const auto deadline = Steady::now() + options_.deadline;
  bool fresh = false;
  auto entry = cached(jurisdiction);
  try {
    if (!entry) {
      entry = fetch(jurisdiction);
      fresh = true;
    }
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      if (attempt > 0 && metrics_) metrics_->ledger_retry();
      if (Steady::now() > deadline) break;
      LedgerState state = entry ? entry->state : LedgerState{};
      state.jurisdiction = jurisdiction;
      LedgerEdit e = edit(state, fresh);
      if (e.need_fresh && !fresh) {
        entry = fetch(jurisdiction);
        fresh = true;
        continue;
      }
      if (!e.write) return false;
      json object = {{"apiVersion", kLedgerApiVersion},
                     {"kind", kLedgerKind},
                     {"spec", ledger_to_spec(state)}};
      KubeResponse res;
      if (entry) {
        object["metadata"] = entry->metadata;
        res = client_.replace(object_path(jurisdiction), std::move(object));
      } else {
        object["metadata"] = {{"name", ledger_object_name(jurisdiction)},
                              {"namespace", options_.namespace_},
                              {"labels", {{"app.kubernetes.io/part-of", "exportgate"}}}};
        res = client_.request("POST", collection_path(), object.dump());
      }
      if (res.ok()) {
        remember(jurisdiction,
                 std::make_shared<const LedgerEntry>(ledger_entry_from_object(res.json())));
        return true;
      }
      if (res.status == 409 || res.status == 404) {
        // 409: someone wrote since we read (or created it first); 404: it was deleted.
        if (res.status == 409 && metrics_) metrics_->ledger_conflict();
        jitter_sleep(attempt);
        entry = fetch(jurisdiction);
        fresh = true;
        continue;
      }
      throw LedgerUnavailable("writing TPPLedger " + ledger_object_name(jurisdiction) + ": " +
                              res.describe());
    }
  } catch (const KubeUnavailable& e) {
    throw LedgerUnavailable(e.what());
  } catch (const LedgerFormatError& e) {
    throw LedgerUnavailable(std::string("TPPLedger answer malformed: ") + e.what());
  }
  throw LedgerUnavailable("TPPLedger " + ledger_object_name(jurisdiction) +
                          " changed concurrently too often to write it within " +
                          std::to_string(options_.deadline.count()) + " ms");
}

ClusterLedger::Committer& ClusterLedger::committer(const std::string& jurisdiction) {
  std::lock_guard lock(mu_);
  auto& c = committers_[jurisdiction];
  if (!c) c = std::make_unique<Committer>();
  return *c;
}

bool ClusterLedger::commit(const std::string& jurisdiction,
                           std::vector<std::shared_ptr<Pending>>& batch) {
  try {
    // When nothing is written, each request keeps the answer of the last pass: rejected, or
    // accepted because its uid was already held (an idempotent retry).
    return update(jurisdiction, [&](LedgerState& state, bool fresh) {
      bool changed = false;
      // Whole-state changes (the reconciler's) first, on this attempt's state: reservations are
      // then decided on what the write will store, and the change is never lost to a conflict
      // with this replica's own admissions.
      for (auto& p : batch) {
        p->changed = false;
        if (!p->change || p->abandoned) continue;
        p->changed = p->change(state);
        changed |= p->changed;
      }
      bool rejected = false;
      bool added = false;
      for (auto& p : batch) {
        if (p->change) continue;
        p->added = false;
        if (p->abandoned) {
          p->accepted = false;
          continue;
        }
        const bool held = state.holds(p->r.uid);
        p->accepted = try_reserve(state, p->r, p->tenant_cap, p->jurisdiction_cap);
        p->added = p->accepted && !held;
        added |= p->added;
        rejected |= !p->accepted;
      }
      // Never deny on a cached view: it may predate releases made by the reconciler.
      if (rejected && !fresh) return LedgerEdit{false, true};
      return LedgerEdit{added || changed, false};
    });
  } catch (...) {
    for (auto& p : batch) p->error = std::current_exception();
    return false;
  }
}

void ClusterLedger::drop_abandoned(const std::string& jurisdiction,
                                   const std::vector<std::string>& uids) {
  try {
    update(jurisdiction, [&](LedgerState& state, bool) {
      bool dropped = false;
      for (const auto& uid : uids) dropped |= drop_reservation(state, uid);
      return LedgerEdit{dropped, false};
    });
  } catch (const LedgerUnavailable& e) {
    // Left to --reservation-ttl: the reconciler drops reservations no Pod claims.
    log_.warn("could not remove reservations whose requests timed out",
              {{"jurisdiction", jurisdiction}, {"error", e.what()}});
  }
}

bool ClusterLedger::reserve(const Reservation& r, std::optional<double> tenant_cap,
                            std::optional<double> jurisdiction_cap) {
  if (!tenant_cap && !jurisdiction_cap) return true;
  auto p = std::make_shared<Pending>();
  p->r.uid = r.uid;
  p->r.tenant = r.tenant;
  p->r.tpp = r.tpp;
  p->r.namespace_ = r.namespace_;
  p->r.link = r.link;
  p->r.claim_uid = r.claim_uid;
  if (auto slash = r.key.find('/'); slash != std::string::npos) p->r.pod = r.key.substr(slash + 1);
  p->r.created = std::chrono::system_clock::now();
  p->tenant_cap = tenant_cap;
  p->jurisdiction_cap = jurisdiction_cap;
  if (p->r.uid.empty()) throw LedgerUnavailable("a reservation needs the admission uid");
  // Pods of a Kueue workload draw on its reservation, which only the ledger object knows.
  if (book_ && p->r.link.empty() &&
      book_->try_consume(r.jurisdiction, p->r, tenant_cap, jurisdiction_cap, Steady::now())) {
    if (metrics_) metrics_->ledger_lease_admit();
    return true;
  }

  submit(r.jurisdiction, p);
  return p->accepted;
}

bool ClusterLedger::transform(const std::string& jurisdiction,
                              std::function<bool(LedgerState&)> change) {
  auto p = std::make_shared<Pending>();
  p->change = std::move(change);
  p->accepted = true;
  submit(jurisdiction, p);
  return p->wrote;
}

void ClusterLedger::submit(const std::string& jurisdiction, const std::shared_ptr<Pending>& p) {
  Committer& c = committer(jurisdiction);
  std::unique_lock lock(c.mu);
  c.queue.push_back(p);
  const auto deadline = Steady::now() + options_.deadline * 2;
  while (!p->done) {
    if (!c.active) {
      // Become the writer: take everything queued (ours included) and write it in one CAS.
      c.active = true;
      std::vector<std::shared_ptr<Pending>> batch;
      batch.swap(c.queue);
      lock.unlock();
      const bool wrote = commit(jurisdiction, batch);
      lock.lock();
      // Under the lock, so no waiter can give up between this look and `done`.
      std::vector<std::string> orphans;
      for (auto& q : batch) {
        if (wrote && q->added && q->abandoned) orphans.push_back(q->r.uid);
        q->wrote = wrote && q->changed;
        q->done = true;
      }
      c.active = false;
      c.cv.notify_all();
      if (!orphans.empty()) {
        lock.unlock();
        drop_abandoned(jurisdiction, orphans);
        lock.lock();
      }
      continue;
    }
    if (c.cv.wait_until(lock, deadline) == std::cv_status::timeout && !p->done) {
      // Still queued: never written. Taken into a batch in flight: the writer leaves it out
      // or removes it again, so the caller, told it failed, holds nothing. (A change the
      // writer already applied may still be written: it is one the caller asked for.)
      if (std::erase(c.queue, p) == 0) p->abandoned = true;
      throw LedgerUnavailable("timed out waiting to write TPPLedger " +
                              ledger_object_name(jurisdiction));
    }
  }
  if (p->error) std::rethrow_exception(p->error);
}

policy::UsageSnapshot ClusterLedger::snapshot(const std::string& tenant,
                                              const std::string& jurisdiction) const {
  auto e = cached(jurisdiction);
  if (!e) return {};
  // This replica's unused lease for the tenant is room for its own decisions.
  const double free = book_ ? book_->unused(jurisdiction, tenant, e->state) : 0;
  return {e->state.tenant_total(tenant) - free, e->state.total() - free};
}

std::optional<Reservation> ClusterLedger::release(const std::string&) {
  return std::nullopt;
}

double ClusterLedger::headroom(const std::string& jurisdiction, const std::string& link) const {
  auto e = cached(jurisdiction);
  return e ? e->state.headroom(link) : 0;
}

UsageTotals ClusterLedger::totals() const {
  UsageTotals t;
  for (const auto& [j, e] : entries()) {
    // Usage only: leased headroom is room held for admissions, not TPP in use or reserved.
    t.jurisdictions[j] = e->state.in_use() + e->state.reserved();
    for (const auto& [name, u] : e->state.tenants) t.tenants[name] += u.in_use + u.reserved;
  }
  return t;
}

}  // namespace exportgate::webhook
