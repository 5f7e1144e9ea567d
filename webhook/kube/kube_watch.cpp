// Watch stream decoding and backoff (see kube_watch.hpp).
#include "webhook/kube_watch.hpp"

#include <algorithm>

#include "policy/json_limits.hpp"

namespace exportgate::webhook {

using nlohmann::json;

WatchEvent parse_watch_event(std::string_view line) {
  json j = policy::parse_json_bounded_or_discarded(line);
  if (j.is_discarded() || !j.is_object())
    throw WatchDecodeError("watch event is not a JSON object");
  auto type = j.find("type");
  auto object = j.find("object");
  if (type == j.end() || !type->is_string()) throw WatchDecodeError("watch event without type");
  if (object == j.end() || !object->is_object()) {
    throw WatchDecodeError("watch event without object");
  }
  WatchEvent ev;
  const std::string t = type->get<std::string>();
  if (t == "ADDED") {
    ev.type = WatchEventType::kAdded;
  } else if (t == "MODIFIED") {
    ev.type = WatchEventType::kModified;
  } else if (t == "DELETED") {
    ev.type = WatchEventType::kDeleted;
  } else if (t == "BOOKMARK") {
    ev.type = WatchEventType::kBookmark;
  } else if (t == "ERROR") {
    ev.type = WatchEventType::kError;
    auto code = object->find("code");
    ev.error_code = code != object->end() && code->is_number_integer() ? code->get<int>() : 0;
  } else {
    throw WatchDecodeError("unknown watch event type \"" + t + "\"");
  }
  if (ev.type != WatchEventType::kError) {
    auto meta = object->find("metadata");
    if (meta != object->end() && meta->is_object()) {
      auto rv = meta->find("resourceVersion");
      if (rv != meta->end() && rv->is_string()) ev.resource_version = rv->get<std::string>();
    }
  }
  ev.object = std::move(*object);
  return ev;
}

std::vector<std::string> LineBuffer::feed(std::string_view data) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != '\n') continue;
    partial_.append(data.substr(start, i - start));
    if (!partial_.empty()) lines.push_back(std::move(partial_));
    partial_.clear();
    start = i + 1;
  }
  partial_.append(data.substr(start));
  return lines;
}

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, uint64_t seed)
    : base_(base), max_(max), rng_(seed ? seed : std::random_device{}()) {}

std::chrono::milliseconds Backoff::next() {
  const int shift = std::min(attempt_, 20);
  ++attempt_;
  const auto ceiling = std::min<long long>(max_.count(), base_.count() * (1LL << shift));
  std::uniform_int_distribution<long long> dist(ceiling / 2, std::max<long long>(ceiling, 1));
  return std::chrono::milliseconds(dist(rng_));
}

}  // namespace exportgate::webhook
