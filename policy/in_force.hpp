// Rules in force on a date: the `current` preset (the rule set BIS applies on that date, with the
// dated changes exportgate knows of) and the warnings a date can call for.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace exportgate::policy {

inline constexpr std::string_view kCurrentPreset = "current";

// Today's date in UTC, "YYYY-MM-DD".
std::string today_utc();

// "today" -> `today`; a valid ISO date -> itself; anything else -> nullopt.
std::optional<std::string> resolve_in_force_date(std::string_view text, std::string_view today);

// The rules in force on `date` (ISO): the AI diffusion framework from its effective date
// (2025-01-13) until BIS stopped enforcing it (2025-05-13); the October 2023 controls otherwise,
// with the headquarters rule and the dated changes to Country Group D:5 (Cambodia left it on
// 2026-02-03). Throws PolicyError for a date before 2023-11-17 (no data here for the 2022 rule).
Policy load_current(std::string_view date);

// Warnings for a policy read with a selected date (`p.in_force_on`; none when it is empty) and
// the catalog's as-of date against `today`: the rule set is not in force on the date; the date is
// past a scheduled change the data does not settle (a rule's effectiveUntil, e.g. the end of a
// suspension); the catalog is more than 12 months old.
std::vector<std::string> in_force_warnings(const Policy& p, std::string_view today);

// Days from 1970-01-01 to an ISO date (valid_iso_date must hold); for date arithmetic.
long days_since_epoch(std::string_view date);

}  // namespace exportgate::policy
