/*
 * core/hex.c - see hex.h. Encoding goes through a 16-entry table; appending
 * to a Buf is done in stack-sized chunks so a long bytea costs a few appends,
 * not two per byte.
 */
#include "core/hex.h"

#include <openssl/sha.h>

static const char DIGITS[] = "0123456789abcdef";

int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void hex_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = DIGITS[p[i] >> 4];
        out[2 * i + 1] = DIGITS[p[i] & 15];
    }
    out[2 * n] = '\0';
}

bool hex_append(Buf *b, const void *in, size_t n, Err *err)
{
    const unsigned char *p = in;
    char chunk[2 * 256 + 1];   /* 256 bytes' digits and hex_encode's NUL */
    while (n > 0) {
        size_t take = n < 256 ? n : 256;
        hex_encode(p, take, chunk);
        if (!buf_append(b, chunk, 2 * take, err))
            return false;
        p += take;
        n -= take;
    }
    return true;
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, d);
    hex_encode(d, sizeof d, out);
}
