// Where the webhook hands decision records (see decision_log.hpp for the durable, hash-chained
// file writer). An interface so the server does not depend on how records are kept.
#pragma once

#include <nlohmann/json.hpp>

namespace exportgate::webhook {

class DecisionSink {
 public:
  virtual ~DecisionSink() = default;
  // Takes one decision record (the JSON built by the admission handler). Runs on the admission
  // path: it may wait only briefly; returns false when the record had to be dropped.
  virtual bool record(nlohmann::json record) = 0;
  // True when allowed requests are wanted too (`serve --decision-log-all`).
  virtual bool wants_allows() const = 0;
};

}  // namespace exportgate::webhook
