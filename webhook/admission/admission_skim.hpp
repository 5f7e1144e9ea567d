// The fast path of AdmissionReview decoding for Pod requests, nearly all of the traffic.
// nlohmann's parser spends most of its time lexing the whole Pod (managedFields, env, probes,
// volumes...) that admission never reads; the skimmer validates the text without building
// anything and parses only the envelope and the parts of the Pod the engine reads.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace exportgate::webhook {

// The AdmissionReview document of `body` with request.object reduced to what admission reads
// of a Pod: apiVersion, kind, metadata (without managedFields), spec.containers,
// spec.initContainers and spec.ephemeralContainers (each with name, resources, restartPolicy,
// securityContext and the NVIDIA_VISIBLE_DEVICES entries of env only), spec.resources,
// spec.overhead, spec.nodeSelector, spec.affinity and the hostPath entries of spec.volumes (the
// dropped elements of env and volumes become null, so indices stay those of the whole object).
// Every other field of the request is kept.
// nullopt for anything else: another kind, a request with an oldObject (UPDATE, DELETE), or
// text the skimmer does not vouch for (invalid JSON, non-ASCII, escaped keys where keys are
// matched); callers then parse the whole body, which also reports errors exactly as before.
std::optional<nlohmann::json> skim_pod_review(std::string_view body);

}  // namespace exportgate::webhook
