// "Did you mean" hints for the YAML readers (policy and catalog): edit distance, the nearest
// candidate, and a word list for messages.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace exportgate::policy {

// Levenshtein distance; with `ignore_case`, ASCII letters compare without case.
size_t edit_distance(std::string_view a, std::string_view b, bool ignore_case);

// The candidate nearest `word` at a distance below `limit` (the first of equally near ones);
// "" when none is that near.
template <typename Range>
std::string_view nearest(std::string_view word, const Range& candidates, size_t limit,
                         bool ignore_case) {
  std::string_view best;
  for (const auto& c : candidates) {
    const std::string_view candidate(c);
    const size_t d = edit_distance(word, candidate, ignore_case);
    if (d < limit) {
      best = candidate;
      limit = d;
    }
  }
  return best;
}

// "a, b, c".
std::string join_words(std::initializer_list<std::string_view> words);

}  // namespace exportgate::policy
