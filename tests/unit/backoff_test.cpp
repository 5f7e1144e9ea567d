// Backoff (webhook/util): the delays of the watches' reconnects (upper half of the ceiling) and of
// the ledger's write conflicts (anywhere up to the ceiling), one class for both.
#include "webhook/backoff.hpp"

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
namespace wh = exportgate::webhook;

TEST(Backoff, FullJitterSpreadsFromZeroToTheCappedCeiling) {
  wh::Backoff b(1ms, 50ms, 11, wh::Backoff::Jitter::kFull);
  bool below_half = false;
  for (int i = 0; i < 200; ++i) {
    const auto d = b.delay(7);  // 1ms * 2^7 = 128 ms, capped at 50
    EXPECT_GE(d, 0ms);
    EXPECT_LE(d, 50ms);
    below_half |= d < 25ms;
  }
  EXPECT_TRUE(below_half) << "full jitter reaches below half the ceiling";
  for (int i = 0; i < 50; ++i) EXPECT_LE(b.delay(0), 1ms);
  EXPECT_EQ(b.attempt(), 0) << "delay(n) leaves the attempt count alone";
}

TEST(Backoff, HalfJitterStaysInTheUpperHalf) {
  wh::Backoff b(100ms, 2000ms, 3);
  for (int i = 0; i < 100; ++i) {
    const auto d = b.delay(2);  // ceiling 400 ms
    EXPECT_GE(d, 200ms);
    EXPECT_LE(d, 400ms);
  }
}

}  // namespace
