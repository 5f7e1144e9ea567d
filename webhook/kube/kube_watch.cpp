// Watch stream and list page decoding (see kube_watch.hpp).
#include "webhook/kube_watch.hpp"

#include <algorithm>
#include <optional>

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

namespace {

// A member of the page that must be a string when present ("" when absent).
std::string string_member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return "";
  if (!it->is_string()) throw ListDecodeError(std::string("list ") + key + " is not a string");
  return it->get<std::string>();
}

// The kind of a list's items: "PodList" -> "Pod".
std::string item_kind(std::string kind) {
  if (kind.ends_with("List")) kind.resize(kind.size() - 4);
  return kind;
}

void restore_type(json& item, const std::string& kind, const std::string& api_version) {
  if (!item.contains("kind")) item["kind"] = kind;
  if (!item.contains("apiVersion")) item["apiVersion"] = api_version;
}

}  // namespace

ListPage parse_list_page(std::string_view body, const std::function<void(json&)>& on_item) {
  using Event = json::parse_event_t;
  // Depths as nlohmann counts them: the page is 0, its members 1, the items 2.
  std::string member;  // the page's member being parsed
  bool in_items = false;
  std::optional<std::string> kind, api_version;  // the list's, once parsed
  ListPage out;
  json page;
  try {
    page = policy::parse_json_bounded(body, [&](int depth, Event event, json& parsed) {
      if (depth == 1) {
        if (event == Event::key) {
          member = parsed.get<std::string>();
        } else if (event == Event::value && parsed.is_string()) {
          if (member == "kind") kind = item_kind(parsed.get<std::string>());
          if (member == "apiVersion") api_version = parsed.get<std::string>();
        } else if (event == Event::array_start) {
          in_items = member == "items";
          out.is_list |= in_items;
        } else if (event == Event::array_end) {
          in_items = false;
        }
        return true;
      }
      if (depth != 2 || !in_items) return true;
      if (event == Event::value || event == Event::array_start) {
        throw ListDecodeError("list item is not an object");
      }
      if (event != Event::object_end || !kind || !api_version) return true;
      restore_type(parsed, *kind, *api_version);
      ++out.items;
      on_item(parsed);
      return false;  // dropped from the page
    });
  } catch (const json::exception& e) {
    throw ListDecodeError(std::string("list page is not JSON: ") + e.what());
  } catch (const policy::JsonTooDeep& e) {
    throw ListDecodeError(e.what());
  }
  if (!page.is_object()) throw ListDecodeError("list page is not a JSON object");
  // What the API server never sends: a kind after the items. They were kept; hand them over now.
  if (auto items = page.find("items"); items != page.end() && items->is_array()) {
    out.is_list = true;
    const std::string k = item_kind(string_member(page, "kind"));
    const std::string v = string_member(page, "apiVersion");
    for (json& item : *items) {
      restore_type(item, k, v);
      ++out.items;
      on_item(item);
    }
  }
  // Type errors as the old whole-page reading reported them: fail, never read a default.
  (void)string_member(page, "kind");
  (void)string_member(page, "apiVersion");
  if (auto meta = page.find("metadata"); meta != page.end()) {
    if (!meta->is_object()) throw ListDecodeError("list metadata is not an object");
    out.continue_token = string_member(*meta, "continue");
    out.resource_version = string_member(*meta, "resourceVersion");
  }
  return out;
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

}  // namespace exportgate::webhook
