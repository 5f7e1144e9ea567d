// glibc malloc settings for `exportgate serve` (issue 19).
#pragma once

#include <cstddef>

namespace exportgate::webhook {

// Allocations from this size up get their own mapping, returned to the system when freed.
inline constexpr size_t kMmapThresholdBytes = 256 * 1024;
// Free memory above this at the top of an arena is returned to the system.
inline constexpr size_t kTrimThresholdBytes = 128 * 1024;

// Fixes glibc's mmap and trim thresholds, which it otherwise raises (up to 32 MiB and 64 MiB)
// each time a large mapped block is freed: after the first list page body (~2 MiB) every later
// one came from the heap, and each arena kept up to twice that at its top. Measured on a replica
// with 100,000 Pods: ~12 MiB less RSS, the same HTTPS throughput (docs/benchmarks.md). Call before
// any thread starts. Returns false if glibc refused a setting.
bool tune_allocator();

}  // namespace exportgate::webhook
