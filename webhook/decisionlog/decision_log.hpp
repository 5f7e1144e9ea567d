// The decision log: an append-only, hash-chained JSON-lines file of admission decisions
// (format in decision_chain.hpp), written by a background thread in fsync'd batches and
// rotated by size without breaking the chain.
//
// The admission path only enqueues. When the queue is full (the disk stalls), record() waits up
// to `enqueue_timeout` for room, then drops the record: it counts it in
// exportgate_decision_log_dropped_total and the writer puts a "dropped" record with the count
// into the chain, so the log itself says how many records are missing. Blocking without bound
// would instead turn a slow disk into failed pod creations cluster-wide (the apiserver's
// webhook timeout, failurePolicy Fail).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "webhook/decision_sink.hpp"
#include "webhook/unique_fd.hpp"

namespace prometheus {
class Registry;
class Counter;
}  // namespace prometheus

namespace exportgate::webhook {

class Logger;

struct DecisionLogOptions {
  std::string path;            // the active file; rotated files are PATH.000001, PATH.000002 ...
  bool record_allows = false;  // also record allowed requests that asked for accelerators
  // Rotate before a file grows past this many bytes; 0 = never.
  uint64_t max_bytes = 64ull * 1024 * 1024;
  // Room for bursts while a sync is slow; a record in memory is about 1-2 KiB.
  size_t queue_capacity = 16384;
  std::chrono::milliseconds enqueue_timeout{200};
  std::string version;  // exportgate version, written in the "open" record
};

// The log cannot be opened or continued (bad directory, a file that is not a decision log).
class DecisionLogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DecisionLog : public DecisionSink {
 public:
  // Opens PATH, continuing its chain (or the newest rotated file's when PATH is missing), cuts a
  // torn last line left by a crash (recording that it did), writes an "open" record, and starts
  // the writer thread. Throws DecisionLogError.
  explicit DecisionLog(DecisionLogOptions options);
  // Writes what is queued, a "close" record, and syncs.
  ~DecisionLog() override;
  DecisionLog(const DecisionLog&) = delete;
  DecisionLog& operator=(const DecisionLog&) = delete;

  bool record(nlohmann::json record) override;
  bool wants_allows() const override { return options_.record_allows; }

  // Logs errors and checkpoints (seq and hash at rotation and close) to `log`, and exports
  // exportgate_decision_log_{records,dropped,write_errors,rotations}_total in `registry`.
  // Either may be null. Call before records arrive.
  void attach(Logger* log, prometheus::Registry* registry);
  // Forgets what attach() gave, before the Logger or registry is destroyed: later records
  // (dropped after close) touch neither.
  void detach();

  // Waits until every record accepted before the call is written and synced.
  void flush();
  // Drains the queue, writes the "close" record, stops the thread. Idempotent.
  void close();

  struct Stats {
    uint64_t written = 0;  // decision records written and synced
    uint64_t dropped = 0;
    uint64_t write_errors = 0;
    uint64_t rotations = 0;
  };
  Stats stats() const;
  uint64_t last_seq() const;

 private:
  struct Item {
    std::string time;
    std::string type;
    nlohmann::json fields;
  };
  struct ChainState {
    uint64_t seq = 0;
    std::string hash;
    uint64_t file_size = 0;
    uint64_t records_in_file = 0;
  };

  void open_log();
  std::string make_line(const ChainState& st, const Item& item) const;
  void append_sync(const std::string& bytes, const ChainState& next);  // throws on I/O error
  void start_file(const std::string& predecessor);                     // throws on I/O error
  void rotate();                                                       // throws on I/O error
  void write_items(std::deque<Item>& items);  // commits from the front; throws on I/O error
  void run();
  void count(std::atomic<uint64_t>& stat, prometheus::Counter* counter, uint64_t n = 1);
  void log_error(const std::string& msg, const std::string& error);

  DecisionLogOptions options_;
  std::string directory_;
  unsigned next_archive_ = 1;
  UniqueFd fd_;
  ChainState state_;  // writer thread only (and the constructor / close() when it is stopped)

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // items queued, flush or stop requested
  std::condition_variable space_cv_;  // room in the queue
  std::condition_variable done_cv_;   // items committed
  std::deque<Item> queue_;
  uint64_t dropped_unrecorded_ = 0;  // drops not yet written as a "dropped" record
  uint64_t accepted_ = 0;            // items ever queued
  uint64_t committed_ = 0;           // items ever written and synced (or given up on)
  uint64_t last_seq_ = 0;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread writer_;

  std::atomic<Logger*> log_{nullptr};
  std::atomic<prometheus::Counter*> written_counter_{nullptr};
  std::atomic<prometheus::Counter*> dropped_counter_{nullptr};
  std::atomic<prometheus::Counter*> errors_counter_{nullptr};
  std::atomic<prometheus::Counter*> rotations_counter_{nullptr};
  std::atomic<uint64_t> written_{0}, dropped_{0}, write_errors_{0}, rotations_{0};
};

}  // namespace exportgate::webhook
