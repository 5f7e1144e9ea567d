// The pure parts of list+watch: splitting a chunked watch stream into lines, decoding watch
// events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR with 410 Gone), and list pages.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/backoff.hpp"

namespace exportgate::webhook {

class WatchDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  nlohmann::json object;         // the object (a Status for kError)
  std::string resource_version;  // object.metadata.resourceVersion ("" for errors)
  // kError: the Status code; 410 means the resourceVersion is too old and the cache must relist.
  int error_code = 0;
  bool gone() const { return type == WatchEventType::kError && error_code == 410; }
};

// Decodes one line of a watch stream: {"type": "...", "object": {...}}. Throws WatchDecodeError.
WatchEvent parse_watch_event(std::string_view line);

class ListDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a page of a list says besides its items.
struct ListPage {
  std::string continue_token;    // metadata.continue ("" on the last page)
  std::string resource_version;  // metadata.resourceVersion
  size_t items = 0;
  bool is_list = false;  // it has an items array (possibly empty)
};

// Decodes one page of a list (PodList, ...) and hands each item to `on_item` (which may move
// from it) with the kind and apiVersion that list items lack restored from the list's ("Pod",
// "v1"). Each item is handed over as soon as it is parsed and dropped after: one item, not the
// page, is held as JSON (a page of 500 Pods parsed whole was ~14 MiB of small allocations, and
// freed between the cache's long-lived projections it fragmented the heap: issue 19). Only if
// the list's kind or apiVersion come after its items (the API server writes them first) are the
// items held until the end of the page. Throws ListDecodeError on a malformed page, after
// `on_item` may have had some of its items: callers stage a list until it ends.
ListPage parse_list_page(std::string_view body,
                         const std::function<void(nlohmann::json&)>& on_item);

// Accumulates stream chunks and hands out complete newline-terminated lines.
class LineBuffer {
 public:
  // Appends `data`; returns the complete lines now available (without the newline).
  std::vector<std::string> feed(std::string_view data);
  size_t pending() const { return partial_.size(); }

 private:
  std::string partial_;
};

}  // namespace exportgate::webhook
