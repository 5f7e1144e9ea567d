// Number formatting and bounded arithmetic for decision texts and charges: TPP with thousands
// separators ("26,900,000"), and the range past which a charge is not evaluated at all.
#pragma once

#include <string>

namespace exportgate::policy {

// The largest TPP a workload may be charged: about 6e10 H100s, orders of magnitude past any cap
// or any real cluster, yet far below where double loses whole numbers (2^53) or an int64
// conversion overflows. A quantity the API server accepts ("25T" GPUs) can exceed it; such a
// demand is saturated here and denied as out of range, never computed with undefined behaviour.
inline constexpr double kMaxChargeTpp = 1e15;
// Devices (or partition fractions) per workload past which the count is out of range likewise.
inline constexpr double kMaxChargeDevices = 1e12;

// Whole numbers as "126,656"; fractions (MIG slices) keep one decimal: "2,261.7". Any double is
// accepted: values past 1e18 print in scientific notation ("2.5e+21"), NaN and infinities as
// "NaN" / "inf".
std::string format_thousands(double value);

// floor(part / whole * 100) clamped to [0, 1000000], 0 when whole is not positive: for "(91%)".
int percent_of(double part, double whole);

// A TPP value as a whole decimal integer for annotations and logs, saturating at the int64 range
// (NaN prints as "0").
std::string format_whole(double value);

}  // namespace exportgate::policy
