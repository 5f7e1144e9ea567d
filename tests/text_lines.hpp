// A file's text as lines and back, for the tests that tamper with a JSON-lines log (drop,
// reorder or edit one record) and write it out again.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace exportgate::testing {

inline std::vector<std::string> lines_of(const std::string& content) {
  std::vector<std::string> lines;
  std::istringstream in(content);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// Each line with its newline, as the log writes it.
inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

}  // namespace exportgate::testing
