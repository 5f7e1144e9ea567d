// Reads accelerator catalog entries (models, partitions, acceleratorResourcePrefixes) from YAML:
// the embedded catalog and a Policy's spec.catalog share this one parser.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string_view>
#include <vector>

#include "policy/catalog.hpp"
#include "policy/errors.hpp"

namespace exportgate::policy {

// Merges the catalog mapping `node` into `into`:
//  - models: a new id is added (id, vendor, name, denseTops, bitLength required); an existing id
//    is overridden field by field: only the fields given change, a given list (resources,
//    nodeLabels) replaces the old list whole;
//  - partitions: added, or replaced whole when the resource already exists; parents must name
//    models of the merged catalog;
//  - acceleratorResourcePrefixes: appended (duplicates ignored).
// Every problem is appended to `errors` with `filename`, 1-based line and column and what was
// expected; parsing goes on to find the rest. When no error was found, `into` is finalized;
// otherwise its content is unspecified and must not be used.
void merge_catalog_yaml(const YAML::Node& node, std::string_view filename, Catalog& into,
                        std::vector<Diagnostic>& errors);

// Parses catalog YAML text (a document holding the catalog mapping) into a finalized catalog.
// Throws PolicyError with every problem found.
Catalog parse_catalog_yaml(std::string_view text, std::string_view filename);

}  // namespace exportgate::policy
