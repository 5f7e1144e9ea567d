// Strings that many cached objects hold the same value of (a Pod's namespace, the policy hash it
// was charged under, the charge basis every Pod of one template shares): one copy per distinct
// value, referenced by each object. 100,000 Pods of a few templates keep a few bases, not 100,000.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>

namespace exportgate::webhook {

// An immutable shared string (16 bytes per holder, no allocation of its own).
class Interned {
 public:
  Interned() = default;
  const std::string& str() const { return s_ ? *s_ : empty_string(); }
  operator const std::string&() const { return str(); }  // NOLINT: reads as the string
  bool empty() const { return !s_ || s_->empty(); }
  // Whether both hold the same stored copy (not only an equal value).
  bool shares_with(const Interned& o) const { return s_ && s_ == o.s_; }
  // Identity of the stored copy, for memoizing per distinct value (nullptr when empty).
  const void* id() const { return s_.get(); }

  friend bool operator==(const Interned& a, const Interned& b) {
    return a.s_ == b.s_ || a.str() == b.str();
  }
  friend bool operator==(const Interned& a, std::string_view b) { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& out, const Interned& s) { return out << s.str(); }

 private:
  friend class StringPool;
  explicit Interned(std::shared_ptr<const std::string> s) : s_(std::move(s)) {}
  static const std::string& empty_string();
  std::shared_ptr<const std::string> s_;
};

// Hands out one Interned per distinct value. Values nobody holds any more are dropped when the
// pool has doubled since the last sweep, so it never keeps more than about twice what is live.
// Thread-safe.
class StringPool {
 public:
  Interned intern(std::string_view value);
  size_t size() const;

 private:
  void sweep();  // with mu_ held
  mutable std::mutex mu_;
  // Keys view the shared copies, which live as long as their entry.
  std::unordered_map<std::string_view, std::shared_ptr<const std::string>> strings_;
  size_t sweep_at_ = 64;
};

}  // namespace exportgate::webhook
