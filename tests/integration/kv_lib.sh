# tests/integration/kv_lib.sh - helpers for the kv_*_test.sh tests (sourced after lib.sh).
#
# Each scenario runs against both KV stores: the embedded file (STATE_DIR/kv/cache.sqlite,
# table kv) and a namespace of the local edge emulator (REST). kv_use BACKEND selects one;
# kv_config writes the config; kv_dump prints the whole namespace as sorted JSON lines
# {"k": key, "v": value} (values that are JSON are parsed, so both sides compare as JSON).

KV_BACKENDS=${KV_BACKENDS:-embedded rest}

kv_use() {   # kv_use embedded|rest
    KV_BACKEND=$1
    KV_NS_ID=""
    if [ "$KV_BACKEND" = rest ]; then
        use_edge
        KV_NS_ID="w2e-${TEST_NAME}-$$-$RANDOM"
        KV_API="$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/storage/kv/namespaces/$KV_NS_ID"
    fi
}

kv_config() {   # kv_config DIR : DIR/w.jsonc with kv "cache" on the selected backend; mappings in DIR/mappings
    local dir=$1 kv='"cache": {}' cf=''
    mkdir -p "$dir/mappings"
    if [ "$KV_BACKEND" = rest ]; then
        kv="\"cache\": { \"namespace_id\": \"$KV_NS_ID\" }"
        cf='"cloudflare": { "account_id": "${CLOUDFLARE_ACCOUNT_ID}", "api_token": "${CLOUDFLARE_API_TOKEN}", "api_base_url": "${CLOUDFLARE_API_BASE_URL}" },'
    fi
    write_config "$dir/w.jsonc" "$cf \"kv\": { $kv }, \"mappings\": [\"mappings/*.jsonc\"]"
    KV_FILE="$dir/state/kv/cache.sqlite"
}

kv_curl() { curl -sS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' "$@"; }

# every key of the namespace, one per line, sorted
kv_keys() {
    if [ "$KV_BACKEND" = embedded ]; then
        sqlite3 -batch -noheader "$KV_FILE" 'SELECT key FROM kv ORDER BY key'
    else
        local cursor="" page
        while :; do
            page=$(kv_curl "$KV_API/keys?limit=1000${cursor:+&cursor=$cursor}")
            jq -r '.result[].name' <<<"$page"
            cursor=$(jq -r '.result_info.cursor // ""' <<<"$page")
            [ -n "$cursor" ] || break
        done | LC_ALL=C sort
    fi
}

# kv_dump [KEYS_FILE]: {"k","v"} lines for every key (or the keys listed in KEYS_FILE), sorted
kv_dump() {
    if [ "$KV_BACKEND" = embedded ]; then
        sqlite3 -batch -json "$KV_FILE" 'SELECT key AS k, CAST(value AS TEXT) AS v FROM kv' |
            jq -c -S '.[]? | {k, v: (.v | fromjson? // .)}' | LC_ALL=C sort
    else
        local keys=${1:-}
        if [ -z "$keys" ]; then keys="$WORK/kv_keys.$$"; kv_keys >"$keys"; fi
        split -l 100 "$keys" "$WORK/kv_chunk."
        local f
        for f in "$WORK"/kv_chunk.*; do
            jq -R . "$f" | jq -s '{keys: .}' | kv_curl -X POST "$KV_API/bulk/get" --data-binary @- |
                jq -c -S '.result.values | to_entries[] | select(.value != null) | {k: .key, v: (.value | fromjson? // .)}'
            rm -f "$f"
        done | LC_ALL=C sort
    fi
}

# kv_same NAME EXPECTED_FILE : the namespace equals the expected {"k","v"} lines
kv_same() {
    local name=$1 expected=$2
    jq -c -S . "$expected" | LC_ALL=C sort >"$WORK/$name.want"
    kv_dump >"$WORK/$name.got"
    if cmp -s "$WORK/$name.want" "$WORK/$name.got"; then
        pass "[$KV_BACKEND] $name: KV matches Postgres ($(wc -l <"$WORK/$name.want") keys)"
    else
        fail "[$KV_BACKEND] $name: KV differs from Postgres"
        diff "$WORK/$name.want" "$WORK/$name.got" | head -20 | sed 's/^/    | /' >&2
    fi
}

# the key escaping rule of docs/kv.md, in SQL (for ASCII data)
KV_SQL_ESC="replace(replace(replace(%s, '%%', '%%25'), ':', '%%3A'), '/', '%%2F')"
kv_sql_esc() { printf "$KV_SQL_ESC" "$1"; }

kv_reset_slot() {   # kv_reset_slot [create] TABLE...
    local create=$1; shift
    local tables
    tables=$(IFS=,; echo "$*")
    psql_q <<SQL >/dev/null
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT';
DROP PUBLICATION IF EXISTS $TEST_PUBLICATION;
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE $tables;
SQL
    [ "$create" = create ] && psql_q -c "SELECT pg_create_logical_replication_slot('$TEST_SLOT', 'pgoutput')" >/dev/null
    return 0
}
