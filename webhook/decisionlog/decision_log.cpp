// The decision log writer (see decision_log.hpp). One thread owns the file: it takes whatever
// the queue holds, serializes and chains it, writes it with one write() and one fdatasync()
// (group commit: the slower the disk, the larger the batches), and rotates between batches
// when the next record would pass the size limit.
#include "webhook/decision_log.hpp"

#include <fcntl.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "webhook/decision_chain.hpp"
#include "webhook/host_name.hpp"
#include "webhook/log.hpp"

namespace exportgate::webhook {

namespace chain = decision_chain;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::system_error io_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

void fsync_directory(const std::string& dir) {
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // Syncing a directory is how a rename or create becomes durable; a failure here is not a
  // reason to stop logging, the next sync of the file still makes its bytes durable.
  if (d.valid()) ::fsync(d.get());
}

// The last complete line of a file and where the complete part ends (a crash can leave a torn
// line after it). Reads backwards in growing windows: lines are small, files are not.
struct Tail {
  uint64_t complete_size = 0;  // bytes up to and including the last '\n'
  std::string last_line;       // without '\n'; "" when there is no complete line
};

Tail read_tail(int fd, uint64_t size) {
  Tail t;
  for (uint64_t window = 64 * 1024;; window *= 2) {
    const uint64_t len = std::min(window, size);
    std::string buf(len, '\0');
    const uint64_t start = size - len;
    size_t got = 0;
    while (got < len) {
      ssize_t n = ::pread(fd, buf.data() + got, len - got, static_cast<off_t>(start + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw io_error("read");
      got += static_cast<size_t>(n);
    }
    const size_t last_nl = buf.rfind('\n');
    if (last_nl == std::string::npos) {
      if (len == size) return t;  // no complete line at all
      continue;
    }
    const size_t prev_nl = last_nl == 0 ? std::string::npos : buf.rfind('\n', last_nl - 1);
    if (prev_nl == std::string::npos && len < size) continue;  // line starts before the window
    t.complete_size = start + last_nl + 1;
    const size_t line_start = prev_nl == std::string::npos ? 0 : prev_nl + 1;
    t.last_line = buf.substr(line_start, last_nl - line_start);
    return t;
  }
}

// Cuts a failed write back to the last synced size, so a retried batch leaves no torn line.
// The write error is what gets reported; a failing truncate leaves a torn line for verify.
void roll_back(int fd, uint64_t size) {
  const int saved = errno;
  [[maybe_unused]] const int rc = ::ftruncate(fd, static_cast<off_t>(size));
  errno = saved;
}

}  // namespace

DecisionLog::DecisionLog(DecisionLogOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) throw DecisionLogError("decision log: no file name");
  if (options_.queue_capacity == 0) options_.queue_capacity = 1;
  open_log();
  writer_ = std::thread([this] { run(); });
}

DecisionLog::~DecisionLog() {
  close();
}

void DecisionLog::open_log() {
  const fs::path path(options_.path);
  directory_ = path.has_parent_path() ? path.parent_path().string() : ".";
  std::error_code ec;
  if (!fs::is_directory(directory_, ec)) {
    throw DecisionLogError("decision log " + options_.path + ": directory " + directory_ +
                           " does not exist");
  }
  // Rotated files continue numbering after the highest one present.
  const std::string base = chain::base_name(options_.path) + ".";
  unsigned highest = 0;
  for (const auto& entry : fs::directory_iterator(directory_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(base) || name.size() - base.size() < 6) continue;
    const std::string digits = name.substr(base.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    highest = std::max(highest, static_cast<unsigned>(std::stoul(digits)));
  }
  next_archive_ = highest + 1;

  auto continue_from = [&](int fd, const std::string& file) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw io_error("stat " + file);
    Tail tail = read_tail(fd, static_cast<uint64_t>(st.st_size));
    if (tail.last_line.empty()) return std::pair<Tail, uint64_t>{tail, st.st_size};
    auto last = json::parse(tail.last_line, nullptr, false);
    if (!last.is_object() || !last.contains("seq") || !last["seq"].is_number_unsigned()) {
      throw DecisionLogError("decision log " + file +
                             ": the last line is not a decision log record; refusing to append "
                             "to a file that is not a decision log (move it aside)");
    }
    state_.seq = last["seq"].get<uint64_t>();
    state_.hash = chain::sha256_hex(tail.last_line);
    return std::pair<Tail, uint64_t>{tail, st.st_size};
  };

  std::deque<Item> startup;
  std::string predecessor;  // "" = genesis
  state_.hash = std::string(chain::kGenesisHash);
  try {
    UniqueFd fd(::open(options_.path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
    if (!fd.valid() && errno != ENOENT) throw io_error("open " + options_.path);
    bool have_records = false;
    if (fd.valid()) {
      auto [tail, size] = continue_from(fd.get(), options_.path);
      if (tail.complete_size < size) {
        // A crash tore the last line: cut it so the chain continues from the last whole record,
        // and say so in the log itself.
        if (::ftruncate(fd.get(), static_cast<off_t>(tail.complete_size)) != 0) {
          throw io_error("truncate " + options_.path);
        }
        startup.push_back({utc_timestamp_now(),
                           std::string(chain::kRecoveredRecord),
                           {{"discarded_bytes", size - tail.complete_size},
                            {"reason", "the last line was incomplete (crash during a write)"}}});
      }
      have_records = !tail.last_line.empty();
      state_.file_size = tail.complete_size;
      state_.records_in_file = have_records ? 2 : 0;
      fd_ = std::move(fd);
    }
    if (!have_records && highest > 0) {
      // The active file is missing or empty (a crash between rotation steps): continue the
      // newest rotated file.
      const std::string archive = chain::archive_path(options_.path, highest);
      UniqueFd afd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
      if (!afd.valid()) throw io_error("open " + archive);
      continue_from(afd.get(), archive);
      predecessor = chain::base_name(archive);
    }
    if (!fd_.valid()) {
      fd_ = UniqueFd(
          ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640));
      if (!fd_.valid()) throw io_error("create " + options_.path);
      fsync_directory(directory_);
    }
    if (!have_records) {
      json header = {{"predecessor", predecessor.empty() ? json(nullptr) : json(predecessor)}};
      startup.push_front({utc_timestamp_now(), std::string(chain::kFileRecord), header});
    }
    startup.push_back({utc_timestamp_now(),
                       std::string(chain::kOpenRecord),
                       {{"version", options_.version},
                        {"pid", static_cast<long>(::getpid())},
                        {"host", host_name()},
                        {"record_allows", options_.record_allows},
                        {"max_bytes", options_.max_bytes}}});
    write_items(startup);
  } catch (const DecisionLogError&) {
    throw;
  } catch (const std::exception& e) {
    throw DecisionLogError("decision log " + options_.path + ": " + e.what());
  }
  last_seq_ = state_.seq;
}

std::string DecisionLog::make_line(const ChainState& st, const Item& item) const {
  nlohmann::ordered_json line;
  line["seq"] = st.seq + 1;
  line["prev"] = st.hash;
  line["time"] = item.time;
  line["type"] = item.type;
  if (item.fields.is_object()) {
    for (const auto& [k, v] : item.fields.items()) {
      if (k == "seq" || k == "prev" || k == "time" || k == "type") continue;  // chain fields
      line[k] = nlohmann::ordered_json(v);
    }
  }
  // Request data may hold invalid UTF-8: replace it rather than lose the record.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void DecisionLog::append_sync(const std::string& bytes, const ChainState& next) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      roll_back(fd_.get(), state_.file_size);  // the batch is retried whole
      throw io_error("write " + options_.path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_.get()) != 0) {
    roll_back(fd_.get(), state_.file_size);
    throw io_error("sync " + options_.path);
  }
  state_ = next;
}

void DecisionLog::rotate() {
  std::string archive = chain::archive_path(options_.path, next_archive_);
  std::error_code ec;
  while (fs::exists(archive, ec)) archive = chain::archive_path(options_.path, ++next_archive_);
  if (::rename(options_.path.c_str(), archive.c_str()) != 0) throw io_error("rotate to " + archive);
  ++next_archive_;
  fd_.reset();
  UniqueFd fd(
      ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    const int saved = errno;
    ::rename(archive.c_str(), options_.path.c_str());  // back, so the writer can go on
    fd_ = UniqueFd(::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    errno = saved;
    throw io_error("create " + options_.path + " after rotation");
  }
  fsync_directory(directory_);
  fd_ = std::move(fd);
  const uint64_t end_seq = state_.seq;
  const std::string end_hash = state_.hash;
  state_.file_size = 0;
  state_.records_in_file = 0;
  // The new file's first record carries the hash of the old file's last record and its name.
  std::deque<Item> header;
  header.push_back({utc_timestamp_now(),
                    std::string(chain::kFileRecord),
                    {{"predecessor", chain::base_name(archive)}}});
  write_items(header);
  count(rotations_, rotations_counter_.load());
  if (Logger* log = log_.load()) {
    // A checkpoint outside the file: seq and hash where the rotated file ends.
    log->info(
        "decision log rotated",
        {{"archive", archive}, {"file", options_.path}, {"seq", end_seq}, {"hash", end_hash}});
  }
}

void DecisionLog::write_items(std::deque<Item>& items) {
  while (!items.empty()) {
    if (!fd_.valid()) throw std::runtime_error("decision log file is not open");
    std::string buf;
    ChainState next = state_;
    size_t n = 0, decisions = 0;
    bool rotate_first = false;
    for (const auto& item : items) {
      std::string line = make_line(next, item);
      // A file always takes its header and one more record, however large.
      if (options_.max_bytes > 0 && next.records_in_file > 1 &&
          next.file_size + line.size() + 1 > options_.max_bytes) {
        rotate_first = true;
        break;
      }
      next.seq += 1;
      next.hash = chain::sha256_hex(line);
      next.file_size += line.size() + 1;
      next.records_in_file += 1;
      buf += line;
      buf += '\n';
      ++n;
      if (item.type == chain::kDecisionRecord) ++decisions;
    }
    if (n > 0) {
      append_sync(buf, next);
      items.erase(items.begin(), items.begin() + static_cast<long>(n));
      count(written_, written_counter_.load(), decisions);
      {
        std::lock_guard lock(mu_);
        committed_ += decisions;
        last_seq_ = state_.seq;
      }
      done_cv_.notify_all();
    }
    if (rotate_first) rotate();
  }
}

void DecisionLog::run() {
  std::deque<Item> batch;  // taken from the queue, not yet written (kept on write errors)
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (batch.empty()) {
        work_cv_.wait(lock,
                      [&] { return !queue_.empty() || stopping_ || dropped_unrecorded_ > 0; });
      }
      while (!queue_.empty() && batch.size() < options_.queue_capacity) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (dropped_unrecorded_ > 0) {
        batch.push_back({utc_timestamp_now(),
                         std::string(chain::kDroppedRecord),
                         {{"count", dropped_unrecorded_},
                          {"reason", "decision log queue full (disk too slow or failing)"}}});
        if (Logger* log = log_.load()) {
          log->warn("decision log queue full: records dropped",
                    {{"count", dropped_unrecorded_}, {"file", options_.path}});
        }
        dropped_unrecorded_ = 0;
      }
      space_cv_.notify_all();
      if (batch.empty() && stopping_) return;
    }
    try {
      write_items(batch);
    } catch (const std::exception& e) {
      count(write_errors_, errors_counter_.load());
      log_error("decision log write failed; retrying", e.what());
      std::unique_lock lock(mu_);
      if (stopping_) {
        uint64_t lost = 0;
        for (const auto& item : batch) lost += item.type == chain::kDecisionRecord ? 1 : 0;
        committed_ += lost;  // given up on: flush() must not wait for them
        done_cv_.notify_all();
        if (Logger* log = log_.load()) {
          log->error("decision log: records lost at shutdown", {{"count", lost}});
        }
        batch.clear();
        continue;
      }
      work_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    }
  }
}

bool DecisionLog::record(json record) {
  Item item{utc_timestamp_now(), std::string(chain::kDecisionRecord), std::move(record)};
  {
    std::unique_lock lock(mu_);
    if (queue_.size() >= options_.queue_capacity && !stopping_) {
      space_cv_.wait_for(lock, options_.enqueue_timeout,
                         [&] { return queue_.size() < options_.queue_capacity || stopping_; });
    }
    if (queue_.size() >= options_.queue_capacity || stopping_) {
      ++dropped_unrecorded_;
      lock.unlock();
      count(dropped_, dropped_counter_.load());
      work_cv_.notify_one();
      return false;
    }
    queue_.push_back(std::move(item));
    ++accepted_;
  }
  work_cv_.notify_one();
  return true;
}

void DecisionLog::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = accepted_;
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return committed_ >= target || closed_; });
}

void DecisionLog::close() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  // The writer is gone: this thread owns the file now.
  try {
    std::deque<Item> last;
    uint64_t late_drops = 0;  // record() calls that lost the race with close()
    {
      std::lock_guard lock(mu_);
      late_drops = std::exchange(dropped_unrecorded_, 0);
    }
    if (late_drops > 0) {
      last.push_back({utc_timestamp_now(),
                      std::string(chain::kDroppedRecord),
                      {{"count", late_drops}, {"reason", "decision log closing"}}});
    }
    last.push_back({utc_timestamp_now(), std::string(chain::kCloseRecord), json::object()});
    write_items(last);
    if (Logger* log = log_.load()) {
      // A checkpoint outside the file: compare with `exportgate log verify`'s last hash.
      log->info("decision log closed", {{"file", options_.path},
                                        {"seq", state_.seq},
                                        {"hash", state_.hash},
                                        {"records", written_.load()},
                                        {"dropped", dropped_.load()}});
    }
  } catch (const std::exception& e) {
    count(write_errors_, errors_counter_.load());
    log_error("decision log: cannot write the close record", e.what());
  }
  fd_.reset();
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  done_cv_.notify_all();
}

void DecisionLog::attach(Logger* log, prometheus::Registry* registry) {
  log_ = log;
  if (!registry) return;
  auto add = [&](const char* name, const char* help, std::atomic<uint64_t>& stat,
                 std::atomic<prometheus::Counter*>& slot) {
    auto& counter = prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add({});
    counter.Increment(static_cast<double>(stat.load()));
    slot = &counter;
  };
  add("exportgate_decision_log_records_total", "Decision records written and synced", written_,
      written_counter_);
  add("exportgate_decision_log_dropped_total",
      "Decision records dropped because the writer queue stayed full", dropped_, dropped_counter_);
  add("exportgate_decision_log_write_errors_total", "Failed decision log writes (retried)",
      write_errors_, errors_counter_);
  add("exportgate_decision_log_rotations_total", "Decision log files rotated by size", rotations_,
      rotations_counter_);
}

void DecisionLog::detach() {
  log_ = nullptr;
  written_counter_ = nullptr;
  dropped_counter_ = nullptr;
  errors_counter_ = nullptr;
  rotations_counter_ = nullptr;
}

void DecisionLog::count(std::atomic<uint64_t>& stat, prometheus::Counter* counter, uint64_t n) {
  if (n == 0) return;
  stat += n;
  if (counter) counter->Increment(static_cast<double>(n));
}

void DecisionLog::log_error(const std::string& msg, const std::string& error) {
  if (Logger* log = log_.load()) log->error(msg, {{"file", options_.path}, {"error", error}});
}

DecisionLog::Stats DecisionLog::stats() const {
  return {written_.load(), dropped_.load(), write_errors_.load(), rotations_.load()};
}

uint64_t DecisionLog::last_seq() const {
  std::lock_guard lock(mu_);
  return last_seq_;
}

}  // namespace exportgate::webhook
