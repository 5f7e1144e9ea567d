// tune_allocator (issue 19): the mmap threshold stays fixed. glibc otherwise raises it to the size
// of each large mapped block freed, so every later block of that size (a list page body) came
// from the heap and stayed there once freed.
#include "webhook/allocator.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>

#include "tests/sanitizer_allocator.hpp"

namespace {

// Keeps the compiler from dropping a malloc/free pair.
void* volatile sink;

// Under ASan or TSan malloc is the sanitizer's own allocator: glibc's thresholds and mallinfo2's
// counts do not describe it, so there is nothing of glibc's to check.
using exportgate::testing::kSanitizerAllocator;

TEST(Allocator, LargeBlocksStayMappedAfterALargerOneWasFreed) {
  if (kSanitizerAllocator) GTEST_SKIP() << "malloc is the sanitizer's, not glibc's";
  ASSERT_TRUE(exportgate::webhook::tune_allocator());
  sink = std::malloc(4 << 20);  // mapped; freeing it raised glibc's dynamic threshold to 4 MiB
  std::free(sink);
  const size_t mapped_before = mallinfo2().hblks;
  sink = std::malloc(1 << 20);
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1) << "1 MiB came from the heap, not a mapping";
  std::free(sink);
}

}  // namespace
