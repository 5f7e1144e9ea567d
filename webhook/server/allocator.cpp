// glibc malloc settings (see allocator.hpp).
#include "webhook/allocator.hpp"

#include <malloc.h>

namespace exportgate::webhook {

bool tune_allocator() {
  // Setting either threshold also turns off glibc's dynamic adjustment of both.
  const bool mmap = mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) == 1;
  const bool trim = mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) == 1;
  return mmap && trim;
}

}  // namespace exportgate::webhook
