// The decision log's chain format, shared by the writer and `exportgate log verify`.
//
// Every line is one compact JSON object ending in '\n' that starts with
//   {"seq":N,"prev":"<64 hex>","time":"...","type":"...", ...}
// `seq` counts records from 1 across every file of the log; `prev` is the SHA-256 of the exact
// bytes of the previous line (without its '\n'), or 64 zeros before the very first record.
// Each file starts with a "file" record naming its predecessor (the rotated file it continues,
// or null), so the chain runs unbroken across rotation: the first record of a new file holds
// the hash of the last record of the previous one.
#pragma once

#include <string>
#include <string_view>

#include "webhook/sha256.hpp"

namespace exportgate::webhook::decision_chain {

// prev of the first record of a log.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Record types.
inline constexpr std::string_view kFileRecord = "file";    // first line of every file
inline constexpr std::string_view kOpenRecord = "open";    // a writer (process) started
inline constexpr std::string_view kCloseRecord = "close";  // clean shutdown
inline constexpr std::string_view kDecisionRecord = "decision";
inline constexpr std::string_view kDroppedRecord = "dropped";      // records lost to a full queue
inline constexpr std::string_view kRecoveredRecord = "recovered";  // a torn tail was cut at start

// The chain's hash: lowercase hex SHA-256 (util/sha256.hpp).
using webhook::sha256_hex;

// Name of rotated file number `index` (1 = oldest) of the log at `path`: "PATH.000001". Zero
// padded so shell globs (`PATH.*`) list them in rotation order.
std::string archive_path(const std::string& path, unsigned index);

// The last path component ("decisions.jsonl.000002" of "/var/log/decisions.jsonl.000002").
std::string base_name(std::string_view path);

}  // namespace exportgate::webhook::decision_chain
