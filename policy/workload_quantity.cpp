// Kubernetes resource quantities ("8", "500m", "2Gi", "1e3") parsed to numbers.
#include <charconv>
#include <cmath>
#include <string>

#include "policy/errors.hpp"
#include "policy/workload.hpp"

namespace exportgate::policy {

namespace {

[[noreturn]] void bad_quantity(std::string_view q) {
  throw ManifestError("\"" + std::string(q) +
                      "\" is not a Kubernetes quantity (expected e.g. \"8\", \"500m\", \"2Gi\")");
}

// Multiplier of a suffix; 0 when the suffix is not one Kubernetes knows.
double suffix_multiplier(std::string_view s) {
  if (s.empty()) return 1;
  if (s.size() == 2 && s[1] == 'i') {
    switch (s[0]) {
      case 'K':
        return 0x1p10;
      case 'M':
        return 0x1p20;
      case 'G':
        return 0x1p30;
      case 'T':
        return 0x1p40;
      case 'P':
        return 0x1p50;
      case 'E':
        return 0x1p60;
    }
    return 0;
  }
  if (s.size() != 1) return 0;
  switch (s[0]) {
    case 'n':
      return 1e-9;
    case 'u':
      return 1e-6;
    case 'm':
      return 1e-3;
    case 'k':
      return 1e3;
    case 'M':
      return 1e6;
    case 'G':
      return 1e9;
    case 'T':
      return 1e12;
    case 'P':
      return 1e15;
    case 'E':
      return 1e18;
  }
  return 0;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

double parse_quantity(std::string_view q) {
  // Grammar (k8s.io/apimachinery resource.Quantity): sign? digits (. digits)? suffix, where the
  // suffix is binary SI (Ki..Ei), decimal SI (n u m "" k M G T P E) or an exponent (e3, E-2).
  size_t i = 0;
  if (i < q.size() && (q[i] == '+' || q[i] == '-')) ++i;
  size_t digits = 0;
  while (i < q.size() && is_digit(q[i])) ++i, ++digits;
  if (i < q.size() && q[i] == '.') {
    ++i;
    while (i < q.size() && is_digit(q[i])) ++i, ++digits;
  }
  if (digits == 0) bad_quantity(q);
  const std::string_view number = q.substr(0, i);
  const std::string_view suffix = q.substr(i);

  double value = 0;
  const char* first = number.data() + (number.front() == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(first, number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) bad_quantity(q);

  double multiplier = suffix_multiplier(suffix);
  if (multiplier == 0) {
    // Decimal exponent: e or E followed by an optionally signed integer.
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) bad_quantity(q);
    std::string_view exp = suffix.substr(1);
    const char* efirst = exp.data() + (exp.front() == '+' ? 1 : 0);
    int e = 0;
    auto [eend, eec] = std::from_chars(efirst, exp.data() + exp.size(), e);
    if (eec != std::errc() || eend != exp.data() + exp.size() || efirst == eend) bad_quantity(q);
    multiplier = std::pow(10.0, e);
  }
  const double result = value * multiplier;
  if (!std::isfinite(result)) bad_quantity(q);
  return result;
}

}  // namespace exportgate::policy
