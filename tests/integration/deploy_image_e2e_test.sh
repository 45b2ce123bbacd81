#!/usr/bin/env bash
# docker/Dockerfile, for real and offline: a private dockerd (its own socket, data and exec root,
# no bridge: host networking only, so it never touches a Docker already on the machine), a
# bookworm base image made with mmdebstrap and imported (no registry needed), the image built with
# BUILD_IMAGE/BASE_IMAGE pointed at it, then run against the test Postgres (--network host): it
# names its commit, runs as the non-root user, copies a table into the embedded D1 inside a
# mounted state directory and streams the next changes there; detached, run answers /healthz and
# /metrics, its HEALTHCHECK passes, and `docker stop` ends it with exit 0.
# docker-compose validates docker/compose.yaml. Everything it made is removed, dockerd stopped,
# on any exit. Named *_e2e so the ASan pass skips it (it tests the image, not the sanitizers).
source "$(dirname "$0")/lib.sh"
repo=$WAL2EDGE_SOURCE_DIR

for tool in dockerd docker mmdebstrap docker-compose promtool; do
    command -v "$tool" >/dev/null ||
        { echo "$TEST_NAME: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

dk="$WORK/docker"   # short: unix socket paths under it must stay below 108 bytes
mkdir -p "$dk"
export DOCKER_HOST="unix://$dk/docker.sock"
image=wal2edge-e2e:$$
cleanup() {
    local rc=$?
    if [ -f "$dk/dockerd.pid" ]; then
        docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
        docker images -q | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
        pid=$(cat "$dk/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    # overlay mounts left by a killed daemon would keep rm from emptying WORK
    grep -o " $dk/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

step() { echo "-- $* ($(date -u +%H:%M:%S))"; }
step "dockerd"
dockerd --data-root "$dk/root" --exec-root "$dk/exec" -H "$DOCKER_HOST" --pidfile "$dk/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false >"$dk/dockerd.log" 2>&1 &
for _ in $(seq 1 120); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
docker version >/dev/null 2>&1 || { echo "$TEST_NAME: dockerd did not answer in 60 s:" >&2; tail -n 20 "$dk/dockerd.log" >&2; exit 1; }
pass "private dockerd answers ($(docker version -f '{{.Server.Version}}'))"

step "base image (mmdebstrap, cached beside the binary)"
base_tar="$(dirname "$WAL2EDGE_BIN")/docker-bookworm-minbase.tar"
if [ ! -f "$base_tar" ] || [ ! -s "$base_tar" ]; then
    rm -rf "$base_tar"
    # mmdebstrap picks the output format from the name: keep ".tar" at the end
    mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$dk/base.tar" >"$dk/mmdebstrap.log" 2>&1 ||
        { cat "$dk/mmdebstrap.log" >&2; exit 1; }
    mv "$dk/base.tar" "$base_tar"
fi
docker import "$base_tar" localhost/debian:bookworm >/dev/null
pass "base image localhost/debian:bookworm imported"

step "docker build"
commit=$(git -C "$repo" rev-parse --short=12 HEAD)
if docker build --network host -q -f "$repo/docker/Dockerfile" -t "$image" \
    --build-arg BUILD_IMAGE=localhost/debian:bookworm --build-arg BASE_IMAGE=localhost/debian:bookworm \
    --build-arg GIT_COMMIT="$commit" "$repo" >"$dk/build.log" 2>&1; then
    pass "image built"
else
    fail "docker build:"; tail -n 40 "$dk/build.log" >&2; finish
fi

step "image"
dr() { docker run --rm --network host "$@"; }
out=$(dr "$image" version)
[ "$out" = "wal2edge 0.1.0 (commit $commit)" ] && pass "docker run IMAGE version: $out" || fail "version in the image: $out"
[ "$(docker image inspect -f '{{.Config.User}}' "$image")" = wal2edge ] && pass "runs as user wal2edge" ||
    fail "image user: $(docker image inspect -f '{{.Config.User}}' "$image")"
[ "$(dr --entrypoint id "$image" -u)" = 10001 ] && pass "uid 10001, not root" || fail "uid in the image"
docker image inspect -f '{{json .Config.Volumes}}' "$image" | grep -q '"/var/lib/wal2edge"' &&
    pass "/var/lib/wal2edge is a volume" || fail "no state volume"
docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$image" | grep -q '"/usr/local/bin/wal2edge-healthcheck"' &&
    pass "HEALTHCHECK runs wal2edge-healthcheck" || fail "healthcheck: $(docker image inspect -f '{{json .Config.Healthcheck}}' "$image")"

step "replicate into the embedded D1 in a mounted state directory"
psql_q <<'SQL'
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2));
INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 500) g;
SQL
mkdir -p "$WORK/etc/mappings" "$WORK/state"
cat >"$WORK/etc/wal2edge.jsonc" <<'JSONC'
{
  "source": { "dsn": "${DATABASE_URL}", "publication": "deploy_image", "slot": "deploy_image" },
  "state_dir": "${STATE_DIRECTORY}",
  "d1": { "app": { "database_id": "" } },   // embedded: STATE_DIR/d1/app.sqlite
  "mappings": ["mappings/*.jsonc"],
  "metrics": { "listen": "${METRICS_LISTEN:-}" },
}
JSONC
echo '{ "table": "public.items", "d1": { "database": "app", "table": "items" } }' >"$WORK/etc/mappings/items.jsonc"
chown -R 10001:10001 "$WORK/state"
mounts=(-e DATABASE_URL -v "$WORK/etc:/etc/wal2edge:ro" -v "$WORK/state:/var/lib/wal2edge")
w2e() {   # the image, the test's config read-only and its state directory mounted; no metrics
    dr "${mounts[@]}" -e METRICS_LISTEN= "$image" "$@"   # listener on the host's network
}
w2e migrate --no-progress >"$WORK/migrate.out" 2>&1 && pass "migrate in the container" ||
    { fail "migrate:"; tail -n 20 "$WORK/migrate.out" >&2; }
psql_q -c "INSERT INTO items VALUES (501, 'late', 9.99); UPDATE items SET name = 'renamed' WHERE id = 7; DELETE FROM items WHERE id = 8"
w2e run --exit-when-caught-up >"$WORK/run.out" 2>&1 && pass "run --exit-when-caught-up in the container" ||
    { fail "run:"; tail -n 20 "$WORK/run.out" >&2; }
d1="$WORK/state/d1/app.sqlite"
got=$(sqlite3 "$d1" "SELECT count(*), sum(id), (SELECT name FROM items WHERE id = 7), (SELECT price FROM items WHERE id = 501) FROM items" 2>&1 || true)
[ "$got" = "500|125743|renamed|9.99" ] && pass "D1 in the mounted state dir: 500 rows, the update, insert and delete applied" ||
    fail "D1 rows: $got (expected 500|125743|renamed|9.99)"
[ "$(stat -c %u "$d1" 2>/dev/null)" = 10001 ] && pass "state files owned by the image's user" || fail "state owner: $(stat -c %u "$d1")"
d1_count() { sqlite3 "$d1" "SELECT count(*) FROM items WHERE id = $1" 2>/dev/null || echo 0; }

step "run detached: /healthz, /metrics, the HEALTHCHECK, SIGTERM"
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
port=$(free_port)
# nothing listens on this port yet: the HEALTHCHECK falls back to `wal2edge status`
dr "${mounts[@]}" -e METRICS_LISTEN="127.0.0.1:$port" --entrypoint wal2edge-healthcheck "$image" &&
    pass "HEALTHCHECK without a listener: wal2edge status, healthy" || fail "HEALTHCHECK fallback to status"
cid=$(docker run -d --network host "${mounts[@]}" -e METRICS_LISTEN="127.0.0.1:$port" "$image" run)
for _ in $(seq 1 60); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.5; done
curl -fsS "http://127.0.0.1:$port/healthz" >"$WORK/healthz.out" 2>&1 && pass "/healthz: $(cat "$WORK/healthz.out")" ||
    { fail "/healthz did not answer:"; docker logs "$cid" 2>&1 | tail -n 20 >&2; }
docker exec "$cid" wal2edge-healthcheck && pass "the HEALTHCHECK passes against run" || fail "HEALTHCHECK against run"
curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^wal2edge_build_info' &&
    pass "/metrics reachable from the host" || fail "/metrics"
psql_q -c "INSERT INTO items VALUES (502, 'streamed', 1.00)"
for _ in $(seq 1 60); do [ "$(d1_count 502)" = 1 ] && break; sleep 0.5; done
[ "$(d1_count 502)" = 1 ] && pass "a row inserted while the container runs reaches D1" || fail "row 502 not in D1"
start=$(date +%s%N)
docker stop -t 60 "$cid" >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
[ "$code" = 0 ] && pass "docker stop (SIGTERM): exit 0 after ${ms} ms" || { fail "docker stop: exit $code"; docker logs "$cid" 2>&1 | tail -n 20 >&2; }
docker rm "$cid" >/dev/null
w2e slot drop --force >/dev/null 2>&1 || true

step "compose file"
(cd "$repo/docker" && docker-compose -f compose.yaml config -q) 2>"$WORK/compose.err" &&
    pass "docker-compose config: docker/compose.yaml is valid" || { fail "compose:"; cat "$WORK/compose.err" >&2; }
# its Prometheus config with the alert rules mounted beside it, as compose lays them out
mkdir -p "$WORK/prom"
cp "$repo/docker/prometheus.yml" "$repo/monitoring/alerts.yml" "$WORK/prom/"
promtool check config "$WORK/prom/prometheus.yml" >"$WORK/promtool.out" 2>&1 &&
    pass "promtool check config: docker/prometheus.yml with monitoring/alerts.yml" ||
    { fail "promtool:"; cat "$WORK/promtool.out" >&2; }

finish
