// RFC 3339 timestamps as the Kubernetes API writes them (MicroTime, creationTimestamp, token
// expiry). Shared by the ledger, the Lease, the caches, the audit output and exec credentials.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace exportgate::webhook {

using SystemTime = std::chrono::system_clock::time_point;

// RFC 3339 UTC with microseconds ("2025-01-15T12:00:00.000000Z"), as Kubernetes MicroTime.
std::string format_time(SystemTime t);
// Parses RFC 3339 (any fraction, "Z" or numeric offset). nullopt when malformed.
std::optional<SystemTime> parse_time(const std::string& s);

}  // namespace exportgate::webhook
