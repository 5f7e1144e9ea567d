// What a DRA CEL selector provably requires of a device, for charging. The analysis
// over-approximates: it recognises `device.driver == 'x'`, `device.attributes['d'].name == 'v'`
// (also ['name'], reversed operands and `in [...]` lists) and `&&` of them, and treats every
// other part of an expression as "any device". A device the real selector accepts is therefore
// always accepted here, so the most capable device accepted here bounds the charge.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exportgate::policy {

struct DraAttributeRequirement {
  std::string attribute;            // qualified: "gpu.nvidia.com/productName"
  std::vector<std::string> values;  // the device's value must be one of these
};

struct DraRequirements {
  std::optional<std::vector<std::string>> drivers;  // nullopt: any driver
  std::vector<DraAttributeRequirement> attributes;  // all must hold
  // Parts of the selectors that were not understood (and so narrowed nothing), for messages.
  std::vector<std::string> ignored;

  // Adds the requirements of one more CEL selector (selectors of a class and a request all hold).
  void add_selector(std::string_view expression);
  bool allows_driver(std::string_view driver) const;
};

}  // namespace exportgate::policy
