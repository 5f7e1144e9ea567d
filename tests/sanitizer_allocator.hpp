// Whether malloc is a sanitizer's own allocator (ASan, TSan): glibc's thresholds, mallinfo2's
// counts and RSS per allocation then describe nothing of what a release build does, so the tests
// that measure glibc's behaviour skip.
#pragma once

namespace exportgate::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizerAllocator = true;
#else
inline constexpr bool kSanitizerAllocator = false;
#endif
#else
inline constexpr bool kSanitizerAllocator = false;
#endif

}  // namespace exportgate::testing
