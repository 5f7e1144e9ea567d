// Polling file watcher (see file_watcher.hpp). Polling instead of inotify because inotify does
// not see the atomic symlink swap of Kubernetes volume updates reliably on every runtime.
#include "webhook/file_watcher.hpp"

#include <sys/stat.h>

namespace exportgate::webhook {

FileWatcher::FileWatcher(std::vector<std::string> paths, std::chrono::milliseconds interval,
                         std::function<void()> on_change, std::optional<std::string> baseline)
    : paths_(std::move(paths)), interval_(interval), on_change_(std::move(on_change)) {
  // Taken here, not on the thread: a thread that starts late would take a signature that
  // already includes a change made meanwhile, and never report it.
  std::string last = baseline ? std::move(*baseline) : signature_of(paths_);
  thread_ = std::thread([this, last = std::move(last)]() mutable { run(std::move(last)); });
}

FileWatcher::~FileWatcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::string FileWatcher::signature_of(const std::vector<std::string>& paths) {
  std::string sig;
  for (const auto& p : paths) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) {
      sig += "missing;";
      continue;
    }
    sig += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
           std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return sig;
}

void FileWatcher::run(std::string last) {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [&] { return stop_; })) {
    lock.unlock();
    std::string now = signature_of(paths_);
    if (now != last) {
      last = now;
      on_change_();
    }
    lock.lock();
  }
}

}  // namespace exportgate::webhook
