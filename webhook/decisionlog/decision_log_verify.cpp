// Decision log chain verification (see decision_log_verify.hpp). A record is accepted when its
// seq is one more than the last accepted record's and its prev is that record's hash. At the
// first record that is not, the neighbourhood tells what happened: a record whose hash no
// longer matches its successor's prev was edited; a seq gap means records were removed; a line
// between a record and its true successor was inserted; the true successor further down means
// the records were reordered; a last line without '\n' was truncated.
#include "webhook/decision_log_verify.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "webhook/decision_chain.hpp"

namespace exportgate::webhook {

namespace chain = decision_chain;

struct ChainVerifier::Line {
  std::string_view bytes;
  bool complete = false;  // ended by '\n'
  bool parsed = false;    // a JSON object with an unsigned seq and a 64-hex prev
  uint64_t seq = 0;
  std::string prev;
  std::string type;
  nlohmann::json record;
  mutable std::optional<std::string> hash_cache;

  const std::string& hash() const {
    if (!hash_cache) hash_cache = chain::sha256_hex(bytes);
    return *hash_cache;
  }
};

namespace {

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The file record's predecessor: the rotated file it continues, or nullopt at the genesis.
std::optional<std::string> predecessor(const nlohmann::json& record) {
  auto p = record.find("predecessor");
  if (p == record.end() || !p->is_string()) return std::nullopt;
  return p->get<std::string>();
}

std::string where(std::string_view file, size_t line) {
  return std::string(file) + ":" + std::to_string(line);
}

}  // namespace

bool ChainVerifier::fail(std::string kind, std::string_view file, size_t line,
                         std::string message) {
  problem_ = {std::move(kind), std::string(file), line, where(file, line) + ": " + message};
  return false;
}

bool ChainVerifier::add_file(std::string_view name, std::string_view content) {
  if (!ok()) return false;
  std::vector<Line> lines;
  for (size_t start = 0; start < content.size();) {
    size_t nl = content.find('\n', start);
    Line l;
    l.complete = nl != std::string_view::npos;
    size_t end = l.complete ? nl : content.size();
    l.bytes = content.substr(start, end - start);
    start = end + 1;
    auto j = nlohmann::json::parse(l.bytes, nullptr, false);
    if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned() && j.contains("prev") &&
        j["prev"].is_string() && is_hex64(j["prev"].get<std::string>())) {
      l.parsed = true;
      l.seq = j["seq"].get<uint64_t>();
      l.prev = j["prev"].get<std::string>();
      l.type = j.value("type", "");
      l.record = std::move(j);
    }
    lines.push_back(std::move(l));
  }
  if (lines.empty()) {
    return fail("truncated", name, 1,
                "the file is empty: even a new log file starts with a file record");
  }

  for (size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    const size_t n = i + 1;
    if (!l.complete) {
      return fail("truncated", name, n,
                  "the record is cut off mid-line (" + std::to_string(l.bytes.size()) +
                      " bytes, no newline): the file was truncated");
    }
    if (!l.parsed) {
      if (!any_record_ && i == 0) {
        return fail("not-a-log", name, n, "not a decision log: the first line is no record");
      }
      return fail("malformed", name, n,
                  "not a decision log record (invalid JSON, or no seq and prev): edited");
    }

    const uint64_t expected = last_seq_ + 1;
    const bool chained = any_record_ && l.seq == expected && l.prev == last_hash_;
    if (!any_record_) {
      // The first record of the chain: a file record, at the genesis or continuing a file that
      // was not given (older rotated files may have been archived elsewhere).
      if (l.type != chain::kFileRecord) {
        if (l.seq > 1) {
          return fail("removed", name, n,
                      "the log starts at seq " + std::to_string(l.seq) +
                          " without a file record: earlier records were removed");
        }
        return fail("not-a-log", name, n, "not a decision log: no file record at the start");
      }
      if (auto pred = predecessor(l.record)) {
        summary_.continues_from = *pred;
      } else if (l.seq != 1 || l.prev != chain::kGenesisHash) {
        return fail("edited", name, n,
                    "the first record of a new log must have seq 1 and the genesis prev");
      }
    } else if (!chained) {
      const auto pred =
          i == 0 && l.type == chain::kFileRecord ? predecessor(l.record) : std::nullopt;
      if (pred && *pred != chain::base_name(last_file_)) {
        return fail("missing-file", name, n,
                    "this file continues " + *pred + " (after seq " + std::to_string(l.seq - 1) +
                        "), but the file before it, " + last_file_ + ", ends at seq " +
                        std::to_string(last_seq_) +
                        ": a rotated file is missing or the files are out of order");
      }
      // Two records claiming the same place: the one the chain continues from is genuine.
      if (l.seq == last_seq_ && l.prev == last_prev_) {
        if (i + 1 < lines.size() && lines[i + 1].parsed && lines[i + 1].prev == l.hash()) {
          return fail("inserted", last_file_, last_line_,
                      "record seq " + std::to_string(l.seq) +
                          " is not part of the chain: " + where(name, n) +
                          " has the same seq and predecessor, and the chain continues from it");
        }
        return fail("inserted", name, n,
                    "record repeats seq " + std::to_string(l.seq) + " of " +
                        where(last_file_, last_line_) + ": inserted");
      }
      // The true successor of the last good record, further down this file?
      for (size_t j = i + 1; j < lines.size(); ++j) {
        const Line& s = lines[j];
        if (!s.parsed || s.seq != expected || s.prev != last_hash_) continue;
        bool only_stale = true;  // lines i..j-1 all repeat old seqs: copies, not moved records
        for (size_t k = i; k < j; ++k) {
          if (!lines[k].parsed || lines[k].seq > last_seq_) only_stale = false;
        }
        if ((j == i + 1 && l.prev != s.hash()) || only_stale) {
          return fail("inserted", name, n,
                      "record (seq " + std::to_string(l.seq) + ") is not part of the chain: " +
                          where(last_file_, last_line_) + " (seq " + std::to_string(last_seq_) +
                          ") continues at " + where(name, j + 1) + ": inserted");
        }
        return fail("reordered", name, n,
                    "record seq " + std::to_string(l.seq) + " comes before seq " +
                        std::to_string(expected) + " (at " + where(name, j + 1) +
                        "): records were reordered");
      }
      if (l.seq == expected) {
        return fail("edited", last_file_, last_line_,
                    "record seq " + std::to_string(last_seq_) +
                        " was changed after it was written: its hash no longer matches the prev "
                        "stored in the next record, " +
                        where(name, n));
      }
      if (l.seq > expected) {
        if (l.prev == last_hash_) {
          return fail("edited", name, n,
                      "record follows seq " + std::to_string(last_seq_) + " but says seq " +
                          std::to_string(l.seq) + ": its seq was edited");
        }
        const uint64_t missing = l.seq - expected;
        return fail("removed", name, n,
                    std::to_string(missing) + (missing == 1 ? " record" : " records") + " (seq " +
                        std::to_string(expected) +
                        (missing == 1 ? "" : ".." + std::to_string(l.seq - 1)) +
                        ") missing between " + where(last_file_, last_line_) + " and here");
      }
      return fail("inserted", name, n,
                  "record seq " + std::to_string(l.seq) + " goes back in sequence after seq " +
                      std::to_string(last_seq_) + " (" + where(last_file_, last_line_) +
                      "): inserted");
    } else if (i == 0 && l.type != chain::kFileRecord) {
      return fail("malformed", name, n, "a log file must start with a file record");
    }

    // Accepted.
    if (!any_record_) summary_.first_seq = l.seq;
    any_record_ = true;
    last_hash_ = l.hash();
    last_prev_ = l.prev;
    last_seq_ = l.seq;
    last_file_ = std::string(name);
    last_line_ = n;
    ++summary_.records;
    summary_.last_seq = l.seq;
    summary_.last_hash = last_hash_;
    summary_.ends_with_close = l.type == chain::kCloseRecord;
    if (l.type == chain::kDecisionRecord) {
      ++summary_.decisions;
      if (auto h = l.record.find("policy_hash"); h != l.record.end() && h->is_string()) {
        summary_.policy_hashes.insert(h->get<std::string>());
      }
      if (auto d = l.record.find("decision"); d != l.record.end() && d->is_string()) {
        summary_.decisions_by_verdict.insert(d->get<std::string>());
      }
    } else if (l.type == chain::kDroppedRecord) {
      if (auto c = l.record.find("count"); c != l.record.end() && c->is_number_unsigned()) {
        summary_.dropped += c->get<uint64_t>();
      }
    } else if (l.type == chain::kOpenRecord) {
      ++summary_.opens;
    }
  }
  return true;
}

bool ChainVerifier::finish() {
  if (ok() && !any_record_) fail("not-a-log", "(no files)", 0, "no records to verify");
  return ok();
}

}  // namespace exportgate::webhook
