// Number formatting for decision texts: TPP with thousands separators ("26,900,000").
#pragma once

#include <string>

namespace exportgate::policy {

// Whole numbers as "126,656"; fractions (MIG slices) keep one decimal: "2,261.7".
std::string format_thousands(double value);

}  // namespace exportgate::policy
