/*
 * pg/pgoutput.h - decode pgoutput logical replication messages.
 *
 * Owns:     the pgoutput wire format (protocol versions 1-4: plain, streamed,
 *           two-phase and parallel-streaming messages), PgoEvent, and the one
 *           bit of stream state the format needs ("inside Stream Start..Stop",
 *           which decides whether data messages carry an xid prefix).
 * Not mine: relation/type metadata (pg/relcache), CopyBoth framing
 *           (pg/walproto), rendering (pg/decode_render), sockets.
 * Pure:     no I/O, no globals, no clock. A PgoDecoder keeps two scratch
 *           arrays that grow to the largest tuple/relation seen and are then
 *           reused, so steady-state decoding does not allocate.
 * Trust:    input is untrusted. Every length and count is checked against the
 *           bytes remaining (by subtraction, through core/buf Rd) before use;
 *           malformed input yields ERR_PROTOCOL naming the message, the byte
 *           offset within the message and what was wrong, never an
 *           out-of-bounds read.
 *
 * Ownership: every pointer in a PgoEvent is borrowed. Strings and values
 * point into the caller's input bytes (valid while those bytes are); column
 * arrays point into the decoder's scratch (valid until the next pgo_decode
 * on the same decoder).
 */
#ifndef WAL2EDGE_PG_PGOUTPUT_H
#define WAL2EDGE_PG_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "pg/lsn.h"

/* The message type byte, as sent. */
typedef enum PgoType {
    PGO_BEGIN = 'B',
    PGO_COMMIT = 'C',
    PGO_ORIGIN = 'O',
    PGO_RELATION = 'R',
    PGO_TYPE = 'Y',
    PGO_INSERT = 'I',
    PGO_UPDATE = 'U',
    PGO_DELETE = 'D',
    PGO_TRUNCATE = 'T',
    PGO_MESSAGE = 'M',
    PGO_STREAM_START = 'S',
    PGO_STREAM_STOP = 'E',
    PGO_STREAM_COMMIT = 'c',
    PGO_STREAM_ABORT = 'A',
    PGO_BEGIN_PREPARE = 'b',
    PGO_PREPARE = 'P',
    PGO_COMMIT_PREPARED = 'K',
    PGO_ROLLBACK_PREPARED = 'r',
    PGO_STREAM_PREPARE = 'p',
} PgoType;

/* TupleData column kinds. */
typedef enum PgoColKind {
    PGO_COL_NULL = 'n',
    PGO_COL_UNCHANGED = 'u',   /* unchanged out-of-line TOAST value: not sent */
    PGO_COL_TEXT = 't',        /* type output function text */
    PGO_COL_BINARY = 'b',      /* type send function bytes (binary=true) */
} PgoColKind;

/* Relation replica identity. */
typedef enum PgoReplIdent {
    PGO_RI_DEFAULT = 'd',
    PGO_RI_NOTHING = 'n',
    PGO_RI_FULL = 'f',
    PGO_RI_INDEX = 'i',
} PgoReplIdent;

/* Stream Abort trailer (abort_lsn, abort_ts) sent only with streaming=parallel (v4). */
typedef enum PgoAbortInfo {
    /* Guess per message: the trailer is absent when fewer than 16 bytes follow
     * the subxid or the next byte is 0x0A (pg_recvlogical's separator; an
     * abort_lsn starting with 0x0A would be past 720 PB of WAL). */
    PGO_ABORT_INFO_AUTO = 0,
    PGO_ABORT_INFO_NO,
    PGO_ABORT_INFO_YES,
} PgoAbortInfo;

/* A borrowed, length-counted string (NUL-terminated in the input too). */
typedef struct PgoStr {
    const char *p;
    size_t len;
} PgoStr;

typedef struct PgoCol {
    uint8_t kind;              /* PgoColKind */
    uint32_t len;              /* value length for 't'/'b', else 0 */
    const uint8_t *data;       /* borrowed value bytes for 't'/'b', else NULL */
} PgoCol;

typedef struct PgoTuple {
    uint16_t ncols;
    const PgoCol *cols;        /* borrowed: decoder scratch */
} PgoTuple;

typedef struct PgoRelCol {
    uint8_t flags;             /* bit 0: part of the replica identity key */
    PgoStr name;
    uint32_t type_oid;
    int32_t typmod;
} PgoRelCol;

#define PGO_RELCOL_KEY 0x01
#define PGO_TRUNCATE_CASCADE 0x01
#define PGO_TRUNCATE_RESTART_IDENTITY 0x02
#define PGO_MESSAGE_TRANSACTIONAL 0x01

typedef struct PgoEvent {
    uint8_t type;              /* PgoType */
    bool has_xid;              /* the message carried an xid (own field or stream prefix) */
    bool in_stream;            /* decoded inside a Stream Start..Stop block */
    uint32_t xid;              /* valid when has_xid */
    uint32_t stream_xid;       /* top-level xid of the enclosing stream block, when in_stream */
    size_t len;                /* bytes this message occupied */
    union {
        struct { Lsn final_lsn; int64_t commit_ts; } begin;
        /* Commit and Stream Commit. */
        struct { uint8_t flags; Lsn commit_lsn, end_lsn; int64_t commit_ts; } commit;
        struct { Lsn origin_lsn; PgoStr name; } origin;
        struct {
            uint32_t oid;
            PgoStr nspname, relname;
            uint8_t replident;     /* PgoReplIdent */
            uint16_t ncols;
            const PgoRelCol *cols; /* borrowed: decoder scratch */
        } relation;
        struct { uint32_t oid; PgoStr nspname, typname; } type;
        /* Insert, Update, Delete. old_kind is 0 (none), 'K' (key) or 'O' (old row). */
        struct { uint32_t rel_oid; uint8_t old_kind; bool has_new; PgoTuple old_tup, new_tup; } change;
        /* rel_oids: nrels big-endian uint32s in the input; read with pgo_truncate_oid(). */
        struct { uint32_t nrels; uint8_t options; const uint8_t *rel_oids; } truncate;
        struct { uint8_t flags; Lsn lsn; PgoStr prefix; uint32_t len; const uint8_t *content; } message;
        struct { bool first_segment; } stream_start;
        struct { uint32_t subxid; bool has_abort_info; Lsn abort_lsn; int64_t abort_ts; } stream_abort;
        /* Begin Prepare (flags 0), Prepare, Stream Prepare, Commit Prepared:
         * lsn = prepare_lsn (commit_lsn for Commit Prepared). */
        struct { uint8_t flags; Lsn lsn, end_lsn; int64_t ts; PgoStr gid; } prepare;
        struct {
            uint8_t flags;
            Lsn prepare_end_lsn, rollback_end_lsn;
            int64_t prepare_ts, rollback_ts;
            PgoStr gid;
        } rollback_prepared;
    } u;
} PgoEvent;

typedef struct PgoDecoder {
    bool in_stream;            /* between Stream Start and Stream Stop */
    uint32_t stream_xid;       /* top-level xid of the open stream block */
    PgoAbortInfo abort_info;
    PgoCol *cols;              /* scratch for old + new tuples */
    size_t cols_cap;
    PgoRelCol *relcols;        /* scratch for Relation columns */
    size_t relcols_cap;
} PgoDecoder;

/* Initialise a decoder (outside any stream block). Never fails. */
void pgo_decoder_init(PgoDecoder *d, PgoAbortInfo abort_info);
/* Release the scratch arrays; the decoder may be re-initialised. */
void pgo_decoder_free(PgoDecoder *d);
/* Forget stream state, e.g. after a reconnect. Keeps the scratch. */
void pgo_decoder_reset(PgoDecoder *d);

/*
 * Decode the one message that starts at p[0], reading at most n bytes. On
 * success fills *ev (ev->len = bytes consumed, which may be < n: the caller
 * decides whether trailing bytes are allowed) and updates the stream state.
 * On failure returns false with ERR_PROTOCOL in *err and leaves the decoder
 * state unchanged.
 */
bool pgo_decode(PgoDecoder *d, const uint8_t *p, size_t n, PgoEvent *ev, Err *err) WARN_UNUSED;

/* Like pgo_decode, but the message must occupy exactly n bytes (one CopyData payload). */
bool pgo_decode_exact(PgoDecoder *d, const uint8_t *p, size_t n, PgoEvent *ev, Err *err) WARN_UNUSED;

/* The i-th relation OID of a Truncate event (i < nrels). */
static inline uint32_t pgo_truncate_oid(const PgoEvent *ev, uint32_t i)
{
    const uint8_t *q = ev->u.truncate.rel_oids + (size_t)i * 4;
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

/* Lowercase snake_case name of a message type ("stream_commit"), or NULL if unknown. */
const char *pgo_type_name(uint8_t type);

#endif
