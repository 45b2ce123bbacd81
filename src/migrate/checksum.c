/*
 * migrate/checksum.c - see checksum.h. Each value is hashed as a tagged,
 * length-prefixed record (N; I<int>; R<%.17g>; T<len>:bytes B<len>:bytes) so
 * no two rows share an input; the row's hash is the first 8 bytes of the
 * SHA-256 of the records, and a table's checksum is the sum of its rows'
 * hashes (so the order rows are read in does not matter).
 */
#include "migrate/checksum.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>

uint64_t migrate_row_hash(const D1Value *vals, size_t n)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        const D1Value *v = &vals[i];
        char head[48];
        int hl;
        switch (v->kind) {
        case D1V_NULL:
            hl = snprintf(head, sizeof head, "N;");
            EVP_DigestUpdate(md, head, (size_t)hl);
            continue;
        case D1V_INTEGER:
            hl = snprintf(head, sizeof head, "I%" PRId64 ";", v->i);
            EVP_DigestUpdate(md, head, (size_t)hl);
            continue;
        case D1V_REAL:
            hl = snprintf(head, sizeof head, "R%.17g;", v->r);
            EVP_DigestUpdate(md, head, (size_t)hl);
            continue;
        case D1V_TEXT:
            hl = snprintf(head, sizeof head, "T%zu:", v->len);
            break;
        case D1V_BLOB:
            hl = snprintf(head, sizeof head, "B%zu:", v->len);
            break;
        default:
            hl = 0;
        }
        EVP_DigestUpdate(md, head, (size_t)hl);
        EVP_DigestUpdate(md, v->data ? v->data : "", v->len);
    }
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | d[i];
    return h;
}
