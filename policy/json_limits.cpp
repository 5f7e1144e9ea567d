// Bounded JSON parsing (see json_limits.hpp).
#include "policy/json_limits.hpp"

#include <string>

namespace exportgate::policy {

using nlohmann::json;

JsonTooDeep::JsonTooDeep()
    : std::runtime_error("the document nests deeper than " + std::to_string(kMaxJsonDepth) +
                         " levels (exportgate's limit; no Kubernetes object needs that many)") {}

namespace {

// `depth` is the nesting level of the value being started: the top-level object is 0.
bool check_depth(int depth, json::parse_event_t event, json& /*parsed*/) {
  if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
      depth >= kMaxJsonDepth) {
    throw JsonTooDeep();
  }
  return true;
}

}  // namespace

json parse_json_bounded(std::string_view text) {
  return json::parse(text, check_depth);
}

json parse_json_bounded(std::string_view text, const json::parser_callback_t& then) {
  return json::parse(text, [&then](int depth, json::parse_event_t event, json& parsed) {
    return check_depth(depth, event, parsed) && then(depth, event, parsed);
  });
}

json parse_json_bounded_or_discarded(std::string_view text) {
  try {
    return json::parse(text, check_depth);
  } catch (const JsonTooDeep&) {
  } catch (const json::exception&) {
  }
  return json(json::value_t::discarded);
}

}  // namespace exportgate::policy
