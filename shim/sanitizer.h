/* sanitizer.h: which sanitizer instruments this build, where the shim must
 * behave differently under it. Macros only (the version script is made from
 * wrapped.h, which includes this, by the preprocessor alone).
 *
 * BG_TSAN: the ThreadSanitizer test build (build/tsan, `make tsan`; clang).
 */
#ifndef BG_SANITIZER_H
#define BG_SANITIZER_H

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BG_TSAN 1
#endif
#endif

#endif
