#!/usr/bin/env bash
# migrations/ applies with Cloudflare's own tool, offline: `wrangler d1 migrations apply --local`
# (wrangler pinned in package.json) through the reference consumer's wrangler.jsonc, which points
# its D1 binding at ../../migrations. The tables wrangler creates have the same columns, types,
# keys and indexes as the ones wal2edge's own `migrate` creates in the embedded D1, and wrangler
# records both migrations as applied (a second apply has nothing to do).
source "$(dirname "$0")/lib.sh"
repo=$WAL2EDGE_SOURCE_DIR
wrangler="$repo/node_modules/.bin/wrangler"
[ -x "$wrangler" ] || { echo "$TEST_NAME: $wrangler missing (npm ci)" >&2; exit 1; }
export CI=true WRANGLER_SEND_METRICS=false WRANGLER_LOG_PATH="$WORK/wrangler-logs"

apply() {
    (cd "$repo/workers/queue-consumer" &&
        "$wrangler" d1 migrations apply app --local --persist-to "$WORK/wrangler") >"$WORK/$1.out" 2>&1
}
apply apply1 && pass "wrangler d1 migrations apply --local" || { fail "wrangler apply:"; cat "$WORK/apply1.out" >&2; }
db=$(find "$WORK/wrangler/v3/d1" -name '*.sqlite' ! -name metadata.sqlite | head -n 1)
[ -n "$db" ] || { fail "wrangler left no D1 file"; finish; }
applied=$(sqlite3 "$db" "SELECT group_concat(name, ' ') FROM (SELECT name FROM d1_migrations ORDER BY id)")
expected=$(cd "$repo/migrations" && ls *.sql | tr '\n' ' ' | sed 's/ $//')
[ "$applied" = "$expected" ] && pass "d1_migrations: $applied" || fail "d1_migrations: '$applied', expected '$expected'"
apply apply2 && grep -q 'No migrations to apply' "$WORK/apply2.out" && pass "a second apply has nothing to do" ||
    { fail "second apply:"; cat "$WORK/apply2.out" >&2; }

# wal2edge's own DDL in the embedded D1, from the same config, mappings and schema
psql_q -f "$repo/sql/demo.sql" >/dev/null
mkdir -p "$WORK/cfg"
cp -r "$repo/mappings" "$WORK/cfg/"
cp "$repo/wal2edge.jsonc" "$WORK/cfg/"
export TEST_SLOT=deploy_wrangler
sed -i 's/"slot": "wal2edge"/"slot": "deploy_wrangler"/; s/"publication": "wal2edge"/"publication": "deploy_wrangler"/' \
    "$WORK/cfg/wal2edge.jsonc"
psql_q -c "CREATE PUBLICATION deploy_wrangler FOR ALL TABLES"
run_w2e migrate --config "$WORK/cfg/wal2edge.jsonc" migrate --no-progress
expect_rc migrate 0
run_w2e drop --config "$WORK/cfg/wal2edge.jsonc" slot drop --force
embedded="$WORK/cfg/.wal2edge/d1/app.sqlite"

shape() {   # columns, types, not-null, key positions and indexes of every wal2edge table
    sqlite3 "$1" "SELECT m.name, p.cid, p.name, p.type, p.\"notnull\", p.pk FROM sqlite_master m,
                    pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                    AND m.name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND m.name <> 'd1_migrations' ORDER BY 1, 2;
                  SELECT m.name, i.name, i.\"unique\", i.origin FROM sqlite_master m, pragma_index_list(m.name) i
                    WHERE m.type = 'table' AND m.name IN ('users', 'orders', 'order_items', 'products',
                    '_wal2edge_state') ORDER BY 1, 2;"
}
shape "$db" >"$WORK/wrangler.shape"
shape "$embedded" >"$WORK/embedded.shape"
grep -q '^users|' "$WORK/wrangler.shape" && grep -q '^_wal2edge_state|' "$WORK/wrangler.shape" &&
    pass "wrangler created $(cut -d'|' -f1 "$WORK/wrangler.shape" | sort -u | wc -l) tables" || fail "tables missing"
if diff -u "$WORK/embedded.shape" "$WORK/wrangler.shape" >"$WORK/shape.diff"; then
    pass "wrangler's tables match wal2edge migrate's embedded D1 (columns, types, keys, indexes)"
else
    fail "wrangler's tables differ from the embedded D1:"; sed 's/^/    | /' "$WORK/shape.diff" >&2
fi

finish
