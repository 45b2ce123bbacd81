#!/usr/bin/env bash
# Two `run --standby` started together on a missing slot: one creates it and streams, the other
# stands by - neither exits because the other was creating the slot at the same moment (the slot
# exists without a position yet, or CREATE_REPLICATION_SLOT finds it already there). Several
# rounds, each from no slot (and a new database). REST D1 on the local edge (a standby needs shared targets).
source "$(dirname "$0")/lib.sh"
use_edge
export TEST_SLOT=standby_race TEST_PUBLICATION=standby_race_pub
command -v jq >/dev/null || { echo "$TEST_NAME: jq is required" >&2; exit 1; }
psql_q <<SQL >/dev/null
CREATE TABLE sr_t (id int PRIMARY KEY, v text NOT NULL);
CREATE PUBLICATION $TEST_PUBLICATION FOR TABLE sr_t;
SQL
configure() {   # configure DB_ID: both instances' config, REST D1 into that database
    for i in a b; do
        mkdir -p "$WORK/$i/mappings"
        rm -rf "$WORK/$i/state"
        write_config "$WORK/$i/w.jsonc" "\"cloudflare\": { \"account_id\": \"\${CLOUDFLARE_ACCOUNT_ID}\", \"api_token\": \"\${CLOUDFLARE_API_TOKEN}\",
                  \"api_base_url\": \"\${CLOUDFLARE_API_BASE_URL}\" },
  \"d1\": { \"app\": { \"database_id\": \"$1\" } }, \"mappings\": [\"mappings/*.jsonc\"]"
        echo '{ "table": "public.sr_t", "d1": { "database": "app" } }' >"$WORK/$i/mappings/sr_t.jsonc"
    done
}
declare -A pid
drop_slot() { psql_q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT' AND NOT active" >/dev/null 2>&1 || true; }
trap 'rc=$?; for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; sleep 0.5; drop_slot
      [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"; exit $rc' EXIT
d1_rows() {   # d1_rows DB_ID: rows of sr_t in that database
    jq -n '{sql: "SELECT count(*) FROM sr_t"}' | curl -sS -X POST "$CLOUDFLARE_API_BASE_URL/accounts/$CLOUDFLARE_ACCOUNT_ID/d1/database/$1/raw" \
        -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' --data-binary @- |
        jq -r '.result[0].results.rows[0][0] // 0' 2>/dev/null || echo 0
}
holder() { psql_q -c "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = '$TEST_SLOT'"; }

rounds=6 ok=0 streamed=0
for round in $(seq $rounds); do
    # a new database each round: a new slot is a new history (the old database would be a gap)
    db="sr-$$-$round-db"
    configure "$db"
    for i in a b; do
        "$WAL2EDGE_BIN" --config "$WORK/$i/w.jsonc" run --standby >>"$WORK/$i.out" 2>>"$WORK/$i.err" &
        pid[$i]=$!
    done
    alive=no
    for _ in $(seq 60); do   # up to 12 s: one holds the slot, both still run
        h=$(holder)
        if [ -n "$h" ] && [ "$h" != 0 ] && kill -0 "${pid[a]}" 2>/dev/null && kill -0 "${pid[b]}" 2>/dev/null; then
            sleep 2   # and stay so
            kill -0 "${pid[a]}" 2>/dev/null && kill -0 "${pid[b]}" 2>/dev/null && [ "$(holder)" != 0 ] && { alive=yes; break; }
        fi
        kill -0 "${pid[a]}" 2>/dev/null && kill -0 "${pid[b]}" 2>/dev/null || break
        sleep 0.2
    done
    if [ $alive = yes ]; then
        ok=$((ok + 1))
        psql_q -c "INSERT INTO sr_t VALUES ($round, 'r$round')" >/dev/null
        for _ in $(seq 75); do [ "$(d1_rows "$db")" -ge 1 ] && { streamed=$((streamed + 1)); break; }; sleep 0.2; done
    else
        echo "# round $round: a $(kill -0 "${pid[a]}" 2>/dev/null && echo runs || echo exited), b $(kill -0 "${pid[b]}" 2>/dev/null && echo runs || echo exited)" >&2
        tail -n 3 "$WORK/a.err" "$WORK/b.err" | sed 's/^/    | /' >&2
    fi
    for i in a b; do kill -TERM "${pid[$i]}" 2>/dev/null || true; done
    for i in a b; do wait "${pid[$i]}" 2>/dev/null || true; done
    drop_slot
done
[ $ok = $rounds ] && pass "$rounds rounds from no slot: one instance created it and streams, the other stands by, neither exits" ||
    fail "in $((rounds - ok)) of $rounds rounds an instance exited (or nobody held the slot)"
[ $streamed = $ok ] && pass "in each of those rounds a row committed then reached D1" ||
    fail "a row reached D1 in only $streamed of $ok rounds"
finish
