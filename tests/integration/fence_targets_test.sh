#!/usr/bin/env bash
# The fence for KV, queues and the change log: with heartbeats off, a client commits to a table no
# mapping (and no publication) names and takes pg_current_wal_insert_lsn() after its commit; every
# target's checkpoint then passes it although no change of its came - the embedded KV, a KV
# namespace of the local edge, the queue spool, a queue of the local edge and the change log -
# seen in `status --json` and in each target's own storage (the KV file's checkpoint row, the
# spool's .ckpt, the change log's .ckpt), with no key, event or line written for it. A restart
# from the fenced checkpoints applies the next change once. Needs the local edge.
source "$(dirname "$0")/lib.sh"
use_edge

export TEST_SLOT=fence_targets TEST_PUBLICATION=fence_targets_pub
command -v sqlite3 >/dev/null && command -v jq >/dev/null || { echo "$TEST_NAME: sqlite3 and jq are required" >&2; exit 1; }
KV_NS_ID="ft-$$-$RANDOM"
QID="ft$(date +%s%N | tail -c 9)"
psql_q <<'SQL' >/dev/null
CREATE TABLE ft_a (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE ft_b (id int PRIMARY KEY, v text NOT NULL);
CREATE TABLE ft_other (id int PRIMARY KEY);
CREATE PUBLICATION fence_targets_pub FOR TABLE ft_a, ft_b;
SQL
mkdir -p "$WORK/mappings"
echo '{ "table": "public.ft_a", "kv": [ { "namespace": "local", "key": "a:{id}", "value": "row" } ], "queue": { "queue": "spool" } }' \
    >"$WORK/mappings/a.jsonc"
echo '{ "table": "public.ft_b", "kv": [ { "namespace": "remote", "key": "b:{id}", "value": "row" } ], "queue": { "queue": "rest" } }' \
    >"$WORK/mappings/b.jsonc"

write_config "$WORK/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
    \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"kv\": { \"local\": {}, \"remote\": { \"namespace_id\": \"$KV_NS_ID\" } },
  \"queues\": { \"spool\": {}, \"rest\": { \"queue_id\": \"$QID\" } },
  \"changelog\": { \"path\": \"log.ndjson\" },
  \"mappings\": [\"mappings/*.jsonc\"],
  \"run\": { \"flush_interval_ms\": 200, \"fence_interval_ms\": 1000 }"
sed -i 's|"slot": "${TEST_SLOT:-wal2edge_test}"|&, "heartbeat_interval_ms": 0|' "$WORK/w.jsonc"
run_w2e slot --config "$WORK/w.jsonc" slot create
expect_rc slot 0
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
trap 'rc=$?; kill $run_pid 2>/dev/null || true; wait $run_pid 2>/dev/null || true;
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT

status_json() { "$WAL2EDGE_BIN" --config "$WORK/w.jsonc" status --json 2>/dev/null; }
# each target's checkpoint as status --json reports it (the state store), "NAME END_LSN" lines
status_cks() { status_json | jq -r '.targets[] | "\(.target) \(.end_lsn // "0/0")"'; }
# each target's checkpoint as its own storage holds it
own_cks() {
    echo "kv.local $(sqlite3 -batch -noheader "$WORK/state/kv/local.sqlite" "SELECT end_lsn FROM _wal2edge_kv_checkpoint" 2>/dev/null)"
    echo "kv.remote $(sqlite3 -batch -noheader "$WORK/state/kv/remote.index.sqlite" "SELECT end_lsn FROM _wal2edge_kv_checkpoint" 2>/dev/null)"
    echo "queues.spool $(jq -r .end_lsn "$WORK/state/queues/spool.ndjson.ckpt" 2>/dev/null)"
    echo "changelog $(jq -r .end_lsn "$WORK/log.ndjson.ckpt" 2>/dev/null)"
}
# behind FN LSN: the targets FN reports before LSN (none: all five, or four for own_cks, passed it)
behind() {
    local name ck n=0 want=5
    [ "$1" = own_cks ] && want=4
    while read -r name ck; do
        n=$((n + 1))
        [ "$(psql_q -c "SELECT '${ck:-0/0}'::pg_lsn >= '$2'::pg_lsn" 2>/dev/null)" = t ] || echo "$name(${ck:-none})"
    done < <($1)
    [ $n = $want ] || echo "only $n targets"
}
# passes FN LSN SECONDS: until every target FN reports is at or past LSN; prints the milliseconds it took
passes() {
    local t0 late; t0=$(date +%s%N)
    for _ in $(seq $(($3 * 4))); do
        late=$(behind "$1" "$2")
        [ -z "$late" ] && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
        sleep 0.25
    done
    echo "$late" | tr '\n' ' '
    return 1
}
kv_keys() { sqlite3 -batch -noheader "$WORK/state/kv/local.sqlite" "SELECT group_concat(key) FROM (SELECT key FROM kv ORDER BY key)"; }
lines() { cat "$WORK/log.ndjson" "$WORK/state/queues/spool.ndjson" | wc -l; }
pushes() { curl -s "$EDGE_ADMIN_URL/log?route=queues.batch&path=$QID&limit=1000" | jq '.entries | length'; }
kv_writes() { curl -s "$EDGE_ADMIN_URL/log?path=$KV_NS_ID&limit=1000" | jq '.entries | length'; }

psql_q -c "INSERT INTO ft_a VALUES (1, 'a')" -c "INSERT INTO ft_b VALUES (1, 'b')" >/dev/null
l0=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
out=$(passes status_cks "$l0" 30) && pass "mapped changes reach every target ($out ms)" || fail "targets behind $l0: $out"
[ "$(kv_keys)" = "a:1" ] && pass "the embedded KV holds a:1" || fail "the embedded KV holds $(kv_keys)"
n_lines=$(lines)
n_pushes=$(pushes)
n_kv_writes=$(kv_writes)
[ "$n_pushes" -ge 1 ] && [ "$n_kv_writes" -ge 1 ] && pass "the REST queue and KV namespace got their requests" ||
    fail "requests: queue $n_pushes, KV $n_kv_writes"
for round in 1 2; do
    psql_q -c "INSERT INTO ft_other VALUES ($round)" >/dev/null   # a table no target maps or publishes
    lsn=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
    out=$(passes status_cks "$lsn" 20) && pass "round $round: every target's checkpoint in status passes the unmapped commit $lsn ($out ms)" ||
        fail "round $round: status shows targets before $lsn: $out"
    out=$(passes own_cks "$lsn" 10) && pass "round $round: and in each target's own storage ($out ms)" ||
        fail "round $round: own checkpoints before $lsn: $out"
done
[ "$(lines)" = "$n_lines" ] && pass "no line written to the change log or the spool meanwhile" ||
    fail "the change log and spool went from $n_lines to $(lines) lines"
[ "$(kv_keys)" = "a:1" ] && pass "no key changed in KV" || fail "the embedded KV holds $(kv_keys)"
[ "$(pushes)" = "$n_pushes" ] && [ "$(kv_writes)" = "$n_kv_writes" ] && pass "no request to the REST queue or KV namespace" ||
    fail "requests: queue $(pushes) (was $n_pushes), KV $(kv_writes) (was $n_kv_writes)"
kill -TERM $run_pid
wait $run_pid && pass "run stops cleanly" || fail "run exits $?"

# a restart from the fenced checkpoints applies what comes next, once
"$WAL2EDGE_BIN" --config "$WORK/w.jsonc" run >"$WORK/run2.out" 2>"$WORK/run2.err" &
run_pid=$!
psql_q -c "INSERT INTO ft_a VALUES (2, 'c')" >/dev/null
l2=$(psql_q -c "SELECT pg_current_wal_insert_lsn()")
passes status_cks "$l2" 30 >/dev/null || fail "after the restart the targets stay behind $l2"
inserts=$(jq -c 'select(.type == "insert") | .new.id' "$WORK/log.ndjson" | tr '\n' ' ')
[ "$inserts" = '"1" "1" "2" ' ] && pass "after a restart from fenced checkpoints the change log has the next row once" ||
    { fail "the change log's inserts: $inserts"; sed 's/^/    | /' "$WORK/run2.err" >&2; }
events=$(jq -c '.payload.after.id // .after.id' "$WORK/state/queues/spool.ndjson" | tr '\n' ' ')
[ "$events" = '1 2 ' ] && pass "and the spool" || fail "the spool's events: $events"
[ "$(kv_keys)" = "a:1,a:2" ] && pass "and the embedded KV" || fail "the embedded KV holds $(kv_keys)"
kill -TERM $run_pid
wait $run_pid || fail "the second run exits $?"
# slots are few on a shared server: give ours back
psql_q -c "SELECT pg_drop_replication_slot('$TEST_SLOT')" >/dev/null
finish
