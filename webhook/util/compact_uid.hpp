// An admission uid as the Pod cache keeps it: the API server's uids are UUIDs (36 characters, a
// heap string of 48 bytes per Pod), kept as their 16 bytes; anything else (the annotation can be
// edited) is kept as it is, interned. str() gives back exactly the text it was made from.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "webhook/string_pool.hpp"

namespace exportgate::webhook {

class CompactUid {
 public:
  CompactUid() = default;
  CompactUid(std::string_view uid, StringPool& pool);

  bool empty() const { return !uuid_ && other_.empty(); }
  std::string str() const;
  // Whether it is held as 16 bytes (a lower-case 8-4-4-4-12 UUID).
  bool compact() const { return uuid_; }
  friend bool operator==(const CompactUid& a, std::string_view b) { return a.str() == b; }

 private:
  std::array<uint8_t, 16> bytes_{};
  bool uuid_ = false;
  Interned other_;
};

}  // namespace exportgate::webhook
