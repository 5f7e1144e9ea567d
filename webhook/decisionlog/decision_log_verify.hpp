// Verification of a decision log chain (`exportgate log verify`): feeds files in rotation order,
// checks every record's seq and prev hash, and names the first edited, inserted, removed,
// reordered or truncated record with file:line. Pure over the bytes given; no file I/O.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace exportgate::webhook {

struct ChainProblem {
  // "edited", "inserted", "removed", "reordered", "truncated", "malformed", "missing-file",
  // "not-a-log"
  std::string kind;
  std::string file;
  size_t line = 0;      // 1-based line in `file`
  std::string message;  // "FILE:LINE: ..." one line a person can act on
};

struct ChainSummary {
  uint64_t records = 0;
  uint64_t decisions = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  std::string last_hash;         // SHA-256 of the last record: compare with an external copy
  std::string continues_from;    // predecessor of the first file when not given ("" = genesis)
  bool ends_with_close = false;  // the last record is a clean shutdown
  uint64_t dropped = 0;          // records the writer reports lost to a full queue
  uint64_t opens = 0;            // writer starts
  std::set<std::string> policy_hashes;
  std::set<std::string> decisions_by_verdict;  // "deny", "warn", "allow" seen
};

class ChainVerifier {
 public:
  // Checks the next file of the log. Returns false at the first problem (see problem()); later
  // calls then do nothing.
  bool add_file(std::string_view name, std::string_view content);
  // Call after the last file; false when a problem was found (or no file had records).
  bool finish();

  bool ok() const { return problem_.kind.empty(); }
  const ChainProblem& problem() const { return problem_; }
  const ChainSummary& summary() const { return summary_; }

 private:
  struct Line;
  bool fail(std::string kind, std::string_view file, size_t line, std::string message);

  ChainProblem problem_;
  ChainSummary summary_;
  bool any_record_ = false;
  // The last record that verified: its hash, seq, the prev it carried, and where it is.
  std::string last_hash_;
  std::string last_prev_;
  uint64_t last_seq_ = 0;
  std::string last_file_;
  size_t last_line_ = 0;
};

}  // namespace exportgate::webhook
