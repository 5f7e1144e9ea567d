// Recent denials per namespace (see recent_denials.hpp).
#include "webhook/recent_denials.hpp"

#include <algorithm>

#include "policy/json_member.hpp"

namespace exportgate::webhook {

using nlohmann::json;
using policy::json_string;

void RecentDenials::record(const json& d, std::chrono::system_clock::time_point now) {
  if (!d.is_object() || json_string(d, "decision") != "deny") return;
  if (auto dry = d.find("dry_run"); dry != d.end() && dry->is_boolean() && dry->get<bool>()) return;
  const std::string ns = json_string(d, "namespace");
  if (ns.empty()) return;
  RecentDenial e;
  e.kind = json_string(d, "kind");
  e.name = json_string(d, "name");
  e.code = json_string(d, "code");
  if (auto r = d.find("reasons");
      r != d.end() && r->is_array() && !r->empty() && (*r)[0].is_string()) {
    e.reason = (*r)[0].get<std::string>();
  }
  e.tenant = json_string(d, "tenant");
  e.jurisdiction = json_string(d, "jurisdiction");
  if (auto t = d.find("tpp"); t != d.end() && t->is_number()) e.tpp = t->get<double>();
  e.last = now;

  std::lock_guard lock(mu_);
  auto& list = by_namespace_[ns];
  auto same = std::find_if(list.begin(), list.end(), [&](const RecentDenial& x) {
    return x.kind == e.kind && x.name == e.name && x.code == e.code;
  });
  if (same != list.end()) {
    e.count = same->count + 1;
    list.erase(same);
  } else {
    e.count = 1;
  }
  list.insert(list.begin(), std::move(e));  // newest first
  if (list.size() > limits_.per_namespace) list.resize(limits_.per_namespace);
  // Too many namespaces: forget the one whose newest denial is oldest.
  while (by_namespace_.size() > limits_.namespaces) {
    auto oldest = std::min_element(
        by_namespace_.begin(), by_namespace_.end(),
        [](const auto& a, const auto& b) { return a.second.front().last < b.second.front().last; });
    by_namespace_.erase(oldest);
  }
}

std::map<std::string, std::vector<RecentDenial>> RecentDenials::snapshot(
    std::chrono::system_clock::time_point now) const {
  std::map<std::string, std::vector<RecentDenial>> out;
  std::lock_guard lock(mu_);
  for (const auto& [ns, list] : by_namespace_) {
    std::vector<RecentDenial> kept;
    for (const auto& e : list) {
      if (now - e.last <= limits_.ttl) kept.push_back(e);
    }
    if (!kept.empty()) out[ns] = std::move(kept);
  }
  return out;
}

}  // namespace exportgate::webhook
