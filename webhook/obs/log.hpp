// Structured logging: one JSON object per line on stderr, with time, level and message.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace exportgate::webhook {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
std::optional<LogLevel> parse_log_level(std::string_view s);

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kInfo, std::ostream* out = nullptr);
  void set_level(LogLevel level) { level_ = level; }
  bool enabled(LogLevel level) const { return level >= level_; }

  // Writes {"time","level","msg", ...fields} as one line.
  void log(LogLevel level, std::string_view msg, nlohmann::json fields = nlohmann::json::object());
  void debug(std::string_view msg, nlohmann::json f = nlohmann::json::object()) {
    log(LogLevel::kDebug, msg, std::move(f));
  }
  void info(std::string_view msg, nlohmann::json f = nlohmann::json::object()) {
    log(LogLevel::kInfo, msg, std::move(f));
  }
  void warn(std::string_view msg, nlohmann::json f = nlohmann::json::object()) {
    log(LogLevel::kWarn, msg, std::move(f));
  }
  void error(std::string_view msg, nlohmann::json f = nlohmann::json::object()) {
    log(LogLevel::kError, msg, std::move(f));
  }

 private:
  LogLevel level_;
  std::ostream* out_;
  std::mutex mu_;
};

// RFC 3339 UTC with milliseconds: "2025-01-15T12:00:00.123Z".
std::string utc_timestamp_now();

}  // namespace exportgate::webhook
