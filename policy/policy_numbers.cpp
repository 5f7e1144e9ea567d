// Number formatting for decision texts (see policy_numbers.hpp).
#include "policy/policy_numbers.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace exportgate::policy {

namespace {

// Past this, llround would overflow int64 (UB until C++23's defined result): print scientific.
constexpr double kLargestGrouped = 1e18;

}  // namespace

std::string format_thousands(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "NaN" : (value > 0 ? "inf" : "-inf");
  const bool negative = value < 0;
  if (std::fabs(value) >= kLargestGrouped) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", value);
    return buf;
  }
  // Work in tenths so 2261.71 prints as 2,261.7 and 126656.0 as 126,656.
  const auto tenths = static_cast<uint64_t>(std::llround(std::fabs(value) * 10.0));
  const uint64_t whole = tenths / 10;
  const uint64_t fraction = tenths % 10;
  std::string digits = std::to_string(whole);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3 + 4);
  if (negative && tenths != 0) out += '-';
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  if (fraction != 0) {
    out += '.';
    out += static_cast<char>('0' + fraction);
  }
  return out;
}

int percent_of(double part, double whole) {
  if (!(whole > 0) || !(part > 0)) return 0;
  const double p = std::floor(part / whole * 100.0);
  if (!(p < 1e6)) return 1000000;
  return static_cast<int>(p);
}

std::string format_whole(double value) {
  if (std::isnan(value)) return "0";
  // 9.2e18 is just below INT64_MAX and exactly representable as a double.
  constexpr double kMax = 9.2e18;
  if (value >= kMax) return std::to_string(static_cast<long long>(kMax));
  if (value <= -kMax) return std::to_string(-static_cast<long long>(kMax));
  return std::to_string(std::llround(value));
}

}  // namespace exportgate::policy
