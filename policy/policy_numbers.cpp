// Number formatting for decision texts (see policy_numbers.hpp).
#include "policy/policy_numbers.hpp"

#include <cmath>
#include <cstdint>

namespace exportgate::policy {

std::string format_thousands(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "NaN" : (value > 0 ? "inf" : "-inf");
  const bool negative = value < 0;
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

}  // namespace exportgate::policy
