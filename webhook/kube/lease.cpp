// Lease-based leader election (see lease.hpp).
#include "webhook/lease.hpp"

#include <algorithm>

#include "webhook/rfc3339.hpp"

namespace exportgate::webhook {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

LeaseAction decide_lease(const LeaseRecord& record, const std::string& identity,
                         Steady::time_point observed_since, Steady::time_point now) {
  if (record.holder == identity) return LeaseAction::kRenew;
  if (record.holder.empty()) return LeaseAction::kTakeOver;
  const auto duration =
      std::chrono::seconds(record.duration_seconds > 0 ? record.duration_seconds : 15);
  return now - observed_since > duration ? LeaseAction::kTakeOver : LeaseAction::kWait;
}

std::chrono::milliseconds LeaseOptions::effective_renew_deadline() const {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(duration);
  if (renew_deadline.count() > 0 && renew_deadline < d) return renew_deadline;
  return d * 2 / 3;
}

LeaseRecord lease_record_from(const json& lease) {
  const json& spec = lease.value("spec", json::object());
  LeaseRecord r;
  r.holder = spec.value("holderIdentity", "");
  r.duration_seconds = spec.value("leaseDurationSeconds", 0);
  r.renew_time = spec.value("renewTime", "");
  r.transitions = spec.value("leaseTransitions", 0);
  return r;
}

LeaseElector::LeaseElector(KubeClient& client, LeaseOptions options, Logger& log,
                           std::function<void(bool)> on_change)
    : client_(client), options_(std::move(options)), log_(log), on_change_(std::move(on_change)) {}

LeaseElector::~LeaseElector() {
  stop();
}

std::string LeaseElector::path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases/" +
         options_.name;
}

void LeaseElector::start() {
  thread_ = std::thread([this] { run(); });
}

void LeaseElector::set_leading(bool leading) {
  if (leading_.exchange(leading) == leading) return;
  log_.info(
      leading ? "reconciler lease acquired" : "reconciler lease lost",
      {{"lease", options_.namespace_ + "/" + options_.name}, {"identity", options_.identity}});
  if (on_change_) on_change_(leading);
}

void LeaseElector::tick() {
  const auto now = Steady::now();
  const std::string now_text = format_time(std::chrono::system_clock::now());
  // A leader's requests end by its renew deadline: one hanging on an unresponsive API server
  // must not keep it leading past the point where a successor may take over.
  std::chrono::milliseconds budget{0};
  if (leading_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_renew_ + options_.effective_renew_deadline() - now);
    if (left.count() <= 0) {
      renewal_failed(now, "lease not renewed within the renew deadline");
      return;
    }
    budget = std::max(left, std::chrono::milliseconds(1));
  }
  auto res = client_.request("GET", path(), "", budget);
  if (res.status == 404) {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", options_.name}, {"namespace", options_.namespace_}}},
                  {"spec",
                   {{"holderIdentity", options_.identity},
                    {"leaseDurationSeconds", options_.duration.count()},
                    {"acquireTime", now_text},
                    {"renewTime", now_text},
                    {"leaseTransitions", 0}}}};
    auto created = client_.request(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases",
        lease.dump(), budget);
    if (created.ok()) {
      last_renew_ = now;
      no_problem();
      set_leading(true);
    } else if (created.status == 409) {
      set_leading(false);  // another replica created it first
    } else {
      renewal_failed(now, "lease create refused: " + created.describe());
    }
    return;
  }
  if (!res.ok()) {
    renewal_failed(now, "lease read refused: " + res.describe());
    return;
  }
  json lease = res.json();
  LeaseRecord rec = lease_record_from(lease);
  const std::string seen = rec.holder + "|" + rec.renew_time;
  if (seen != observed_) {
    observed_ = seen;
    observed_since_ = now;
  }
  const LeaseAction action = decide_lease(rec, options_.identity, observed_since_, now);
  if (action == LeaseAction::kWait) {
    set_leading(false);
    return;
  }
  json& spec = lease["spec"];
  if (action == LeaseAction::kTakeOver) {
    spec["acquireTime"] = now_text;
    spec["leaseTransitions"] = rec.transitions + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = options_.duration.count();
  spec["renewTime"] = now_text;
  auto put = client_.replace(path(), std::move(lease), budget);
  if (put.ok()) {
    last_renew_ = now;
    no_problem();
    set_leading(true);
  } else if (put.status == 409) {
    set_leading(false);  // another replica renewed or took it first
  } else {
    renewal_failed(now, "lease update refused: " + put.describe());
  }
}

void LeaseElector::renewal_failed(Steady::time_point now, const std::string& what) {
  if (leading_ && now - last_renew_ >= options_.effective_renew_deadline()) set_leading(false);
  problem(what);
}

// A refused write (403 from missing RBAC, 422) or an unreachable API would otherwise leave no
// trace but the leader metric: warn once per distinct failure, then debug while it repeats.
void LeaseElector::problem(const std::string& what) {
  if (what == last_problem_) {
    log_.debug("lease problem persists", {{"error", what}});
    return;
  }
  last_problem_ = what;
  log_.warn("reconciler lease: " + what, {{"lease", options_.namespace_ + "/" + options_.name}});
}

void LeaseElector::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    try {
      tick();
    } catch (const std::exception& e) {
      renewal_failed(Steady::now(), std::string("lease renewal failed: ") + e.what());
    }
    lock.lock();
    auto wait = options_.retry_period;
    if (leading_) {
      // Wake by the renew deadline, so a leader that cannot renew steps down on time.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          last_renew_ + options_.effective_renew_deadline() - Steady::now());
      wait = std::clamp(left, std::chrono::milliseconds(1), wait);
    }
    cv_.wait_for(lock, wait, [this] { return stop_; });
  }
}

void LeaseElector::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!leading_) return;
  try {
    auto res = client_.get(path());
    if (res.ok()) {
      json lease = res.json();
      if (lease_record_from(lease).holder == options_.identity) {
        lease["spec"]["holderIdentity"] = "";
        client_.replace(path(), std::move(lease));
      }
    }
  } catch (const std::exception& e) {
    log_.warn("could not release the reconciler lease", {{"error", e.what()}});
  }
  set_leading(false);
}

}  // namespace exportgate::webhook
