// Retry delays with exponential growth and random jitter: the one retry/backoff helper of the
// watches (reconnects) and the ledger (write conflicts).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace exportgate::webhook {

// Attempt n waits a random time up to base*2^n, capped at `max`: in its upper half [c/2, c]
// (kHalf: reconnects wait at least half the ceiling), or anywhere in [0, c] (kFull: contending
// writers spread out most). reset() after a success.
class Backoff {
 public:
  enum class Jitter { kHalf, kFull };
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, uint64_t seed = 0,
          Jitter jitter = Jitter::kHalf);
  // The delay of the next attempt.
  std::chrono::milliseconds next() { return delay(attempt_++); }
  // The delay of attempt `attempt` (0 = the first retry), for callers that count attempts.
  std::chrono::milliseconds delay(int attempt);
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds max_;
  Jitter jitter_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace exportgate::webhook
