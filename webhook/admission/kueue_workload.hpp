// Workloads that Kueue manages (issue 17): created suspended with a queue name, they wait in
// their queue until quota is free. Over a TPP cap such a workload would only wait, so the webhook
// does not deny it at creation for the cap; the Pods it starts are checked and reserved at their
// own creation as always. Denials for the jurisdiction stay immediate.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace exportgate::webhook {

inline constexpr std::string_view kKueueQueueLabel = "kueue.x-k8s.io/queue-name";

// True for an object with a non-empty kueue.x-k8s.io/queue-name label and spec.suspend true.
bool kueue_queued(const nlohmann::json& object);

// True for the decision codes a queued workload only waits for.
bool waits_in_queue(std::string_view code);

}  // namespace exportgate::webhook
