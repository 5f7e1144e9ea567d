// Polls files for changes (content replaced, rewritten in place, or a mounted ConfigMap/Secret
// swapping its `..data` symlink) and calls back on a background thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace exportgate::webhook {

class FileWatcher {
 public:
  // `on_change` runs on the watcher thread whenever any of `paths` looks different
  // (inode, size or mtime of the file the path resolves to) from the previous poll. The first
  // poll compares with `baseline`: take it with signature_of() *before* reading the files, so a
  // change between that read and this watcher's start is not missed; without one, the files as
  // they are when the constructor runs.
  FileWatcher(std::vector<std::string> paths, std::chrono::milliseconds interval,
              std::function<void()> on_change, std::optional<std::string> baseline = {});
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // What the watcher compares between polls.
  static std::string signature_of(const std::vector<std::string>& paths);

 private:
  void run(std::string last);

  std::vector<std::string> paths_;
  std::chrono::milliseconds interval_;
  std::function<void()> on_change_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace exportgate::webhook
