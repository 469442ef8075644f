/* libFuzzer target: pzf_read_header with tight and loose size limits. */
#include <stdint.h>

#include "pzf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pzf_header h;
    pzf_read_header(data, size, 0, &h);
    pzf_read_header(data, size, PZF_DEFAULT_MAX_DECODED, &h);
    pzf_read_header(data, size, UINT64_MAX, &h);
    return 0;
}
