// JSON line logger (see log.hpp).
#include "webhook/log.hpp"

#include <chrono>
#include <ctime>
#include <iostream>

namespace exportgate::webhook {

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return std::nullopt;
}

namespace {
std::string_view level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}
}  // namespace

std::string utc_timestamp_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

Logger::Logger(LogLevel level, std::ostream* out) : level_(level), out_(out ? out : &std::cerr) {}

void Logger::log(LogLevel level, std::string_view msg, nlohmann::json fields) {
  if (!enabled(level)) return;
  // Ordered so every line starts with time, level, msg.
  nlohmann::ordered_json line;
  line["time"] = utc_timestamp_now();
  line["level"] = level_name(level);
  line["msg"] = msg;
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) line[k] = nlohmann::ordered_json(v);
  }
  // Replace invalid UTF-8 from request data instead of throwing.
  std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::lock_guard lock(mu_);
  *out_ << text << '\n';
  out_->flush();
}

}  // namespace exportgate::webhook
