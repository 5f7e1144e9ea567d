// Retry delays (see backoff.hpp).
#include "webhook/backoff.hpp"

#include <algorithm>

namespace exportgate::webhook {

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, uint64_t seed,
                 Jitter jitter)
    : base_(base), max_(max), jitter_(jitter), rng_(seed ? seed : std::random_device{}()) {}

std::chrono::milliseconds Backoff::delay(int attempt) {
  const int shift = std::clamp(attempt, 0, 20);
  const auto ceiling = std::min<long long>(max_.count(), base_.count() * (1LL << shift));
  const long long low = jitter_ == Jitter::kHalf ? ceiling / 2 : 0;
  const long long high = jitter_ == Jitter::kHalf ? std::max<long long>(ceiling, 1) : ceiling;
  std::uniform_int_distribution<long long> dist(low, high);
  return std::chrono::milliseconds(dist(rng_));
}

}  // namespace exportgate::webhook
