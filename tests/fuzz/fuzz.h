/* What every libFuzzer target here shares: the entry point libFuzzer calls
 * and an assertion that survives NDEBUG (RelWithDebInfo builds define it),
 * so an oracle violation is a crash libFuzzer records. */
#ifndef TKV_FUZZ_H
#define TKV_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                          \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

#endif
