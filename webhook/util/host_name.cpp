// The host name lookup (see host_name.hpp).
#include "webhook/host_name.hpp"

#include <unistd.h>

namespace exportgate::webhook {

std::string host_name() {
  char buf[256] = {};
  // One byte short of the buffer: POSIX leaves a truncated name unterminated.
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace exportgate::webhook
