// A log stream that tests can read while the code under test writes it from its own threads: a
// test waits for the line that says something happened instead of sleeping and assuming it did.
#pragma once

#include <mutex>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>

namespace exportgate::testing {

namespace detail {
// Appends under a lock. A base of LogCapture ahead of std::ostream, so it is built first.
struct LockedBuffer : std::streambuf {
  mutable std::mutex mu;
  std::string written;
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    std::lock_guard lock(mu);
    written.push_back(traits_type::to_char_type(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mu);
    written.append(s, static_cast<size_t>(n));
    return n;
  }
};
}  // namespace detail

class LogCapture : private detail::LockedBuffer, public std::ostream {
 public:
  LogCapture() : std::ostream(static_cast<detail::LockedBuffer*>(this)) {}
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const {
    std::lock_guard lock(mu);
    return written;
  }
  bool contains(const std::string& part) const { return text().find(part) != std::string::npos; }
  // How many lines contain `part`.
  size_t count(const std::string& part) const {
    std::istringstream in(text());
    size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(part) != std::string::npos;
    return n;
  }
};

}  // namespace exportgate::testing
