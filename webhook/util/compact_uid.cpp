// UUIDs in 16 bytes, other uids interned (see compact_uid.hpp).
#include "webhook/compact_uid.hpp"

namespace exportgate::webhook {
namespace {

constexpr std::array<size_t, 4> kDashes = {8, 13, 18, 23};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case too: str() must give back the same text
}

bool is_dash(size_t i) {
  for (size_t d : kDashes) {
    if (i == d) return true;
  }
  return false;
}

}  // namespace

CompactUid::CompactUid(std::string_view uid, StringPool& pool) {
  bool uuid = uid.size() == 36;
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0, b = 0; uuid && i < uid.size(); ++i) {
    if (is_dash(i)) {
      uuid = uid[i] == '-';
      continue;
    }
    const int v = hex_value(uid[i]);
    if (v < 0) {
      uuid = false;
      break;
    }
    bytes[b / 2] = static_cast<uint8_t>(b % 2 ? bytes[b / 2] | v : v << 4);
    ++b;
  }
  if (uuid) {
    bytes_ = bytes;
    uuid_ = true;
  } else {
    other_ = pool.intern(uid);
  }
}

std::string CompactUid::str() const {
  if (!uuid_) return other_.str();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t b = 0; b < 16; ++b) {
    if (b == 4 || b == 6 || b == 8 || b == 10) out += '-';
    out += kHex[bytes_[b] >> 4];
    out += kHex[bytes_[b] & 0xf];
  }
  return out;
}

}  // namespace exportgate::webhook
