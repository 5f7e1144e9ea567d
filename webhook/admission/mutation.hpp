// The /mutate patch: exportgate.io/ annotations (TPP, model, export class) as a JSON Patch that
// is empty when the object already carries the same values (idempotent on reinvocation), and
// that removes any other exportgate.io/ annotation a client set.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "policy/workload.hpp"

namespace exportgate::webhook {

inline constexpr std::string_view kAnnotationPrefix = "exportgate.io/";
inline constexpr char kTppAnnotation[] = "exportgate.io/tpp";
inline constexpr char kModelAnnotation[] = "exportgate.io/accelerator-model";
inline constexpr char kClassAnnotation[] = "exportgate.io/export-class";

// The annotations for a demand with accelerators (empty map when it has none).
std::map<std::string, std::string> exportgate_annotations(const policy::WorkloadDemand& demand);

// JSON Patch (RFC 6902) that sets `annotations` on `object` and removes every other
// exportgate.io/ annotation the object carries (a client's own are never kept); an empty array
// when nothing changes.
nlohmann::json annotation_patch(const nlohmann::json& object,
                                const std::map<std::string, std::string>& annotations);

}  // namespace exportgate::webhook
