// The pure parts of list+watch: splitting a chunked watch stream into lines, decoding watch
// events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR with 410 Gone), and reconnect backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// Accumulates stream chunks and hands out complete newline-terminated lines.
class LineBuffer {
 public:
  // Appends `data`; returns the complete lines now available (without the newline).
  std::vector<std::string> feed(std::string_view data);
  size_t pending() const { return partial_.size(); }

 private:
  std::string partial_;
};

// Exponential backoff with full jitter: attempt n waits a random time in [base*2^n/2, base*2^n],
// capped at `max`. reset() after a success.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, uint64_t seed = 0);
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds max_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace exportgate::webhook
