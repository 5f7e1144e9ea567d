// Names exportgate writes on Kubernetes objects, shared by the modules that write and read them.
#pragma once

namespace exportgate::webhook {

// Put on each Pod by /mutate in cluster mode: ties a stored Pod to the reservation its admission
// made (the AdmissionReview uid is the same for the mutating and validating calls of a request).
// Read back by the Pod cache (kube) for the reconciler (ledger).
inline constexpr char kAdmissionUidAnnotation[] = "exportgate.io/admission-uid";

}  // namespace exportgate::webhook
