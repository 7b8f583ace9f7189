#!/usr/bin/env bash
# Ingest benchmark, one run on this machine: durable ingest (wasmhook serve, a ready webhook
# with the strtotime transform, a match and a workflow) against two references measured in
# the same run (../shared/tools/ingest-ceiling, built from a copy outside the workspace): the
# bare axum handler (content type + JSON parse, no storage) and the fsync ceiling (the same
# handler answering only after the body is appended to a file and fdatasync'd by a
# group-committing thread: the least a durable acknowledgement costs on this disk). Each is
# loaded by wrk from a separate process on loopback with a ~1 KB JSON body at 64 and at 256
# connections; then wasmhook's acknowledgement latency at half its maximum rate, and a
# 1,000,000-row record import over HTTP with its progress and the server's RSS.
#   bash bench/ingest.sh [seconds] [import rows]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
IMPORT_ROWS=${2:-1000000}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk > /dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq > /dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3 > /dev/null; }
cargo build --release -q -p wasmhook
BIN=$PWD/target/release/wasmhook
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

# The reference servers, built from a copy outside the workspace (../shared is read-only);
# the build is kept between runs and redone when the source changes.
CEILING_SRC=$(cd .. && pwd)/shared/tools/ingest-ceiling
CEILING_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/wasmhook-bench/ingest-ceiling
mkdir -p "$CEILING_DIR"
if ! diff -rq "$CEILING_SRC/src" "$CEILING_DIR/src" > /dev/null 2>&1 || [ ! -x "$CEILING_DIR/target/release/ingest-ceiling" ]; then
  rm -rf "$CEILING_DIR/src" && cp -r "$CEILING_SRC/Cargo.toml" "$CEILING_SRC/src" "$CEILING_DIR/"
  (cd "$CEILING_DIR" && cargo build --release -q)
fi
CEILING=$CEILING_DIR/target/release/ingest-ceiling

python3 - "$WORK/post.lua" <<'PY'
import json, sys
body = json.dumps({"customer": "cus_1", "note": "x" * 880,
                   "data": {"object": {"amount": 4200, "created_at": "2024-03-10T09:15:00Z"}}})
open(sys.argv[1], "w").write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' % json.dumps(body))
print(f"body: {len(body)} bytes", file=sys.stderr)
PY

# load URL [connections]
load() { wrk -t2 -c"${2:-64}" -d"${SECONDS_PER_RUN}s" -s "$WORK/post.lua" --latency "$1"; }
# Paced load: each connection waits $2 ms (on average; wrk's delay() hook takes whole
# milliseconds, so it alternates between the two nearest) after each answer, so 64
# connections offer about 64000/($2 + latency) requests/s; latency is measured without the wait.
paced() {
  { cat "$WORK/post.lua"
    echo "local d = $2"
    echo "function delay() local base = math.floor(d); if math.random() < d - base then return base + 1 end return base end"
  } > "$WORK/paced.lua"
  wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/paced.lua" --latency "$1"
}
rate() { awk '/Requests\/sec/ {print $2}'; }
# Answers other than 2xx (wrk counts them in its rate): a refusal is not an acknowledgement.
refused() { awk '/Non-2xx/ {n = $5} END {print n + 0}'; }

# reference CONNECTIONS [FILE]: the ceiling server (durable when FILE is given) under load.
# Each measurement starts from a quiet disk: `sync` first, so the writeback left by what ran
# before (an earlier run, the previous server's data) does not stall its fsyncs (without
# it the ceiling's own p99 read 190–794 ms in some runs).
reference() {
  sync
  "$CEILING" 127.0.0.1:18181 ${2:+"$2"} > /dev/null 2>&1 &
  local pid=$!
  sleep 1
  load http://127.0.0.1:18181/hooks/x "$1"
  # Its CPU (user + system ticks) for the whole run, to set wasmhook's per event against.
  awk '{print $14 + $15}' /proc/$pid/stat > "$WORK/ceiling-cpu-$1${2:+-fsync}"
  kill $pid; wait $pid 2>/dev/null || true
  rm -f "$WORK/ceiling.log"
}
BARE64=$(reference 64); BARE256=$(reference 256)
FSYNC64=$(reference 64 "$WORK/ceiling.log"); FSYNC256=$(reference 256 "$WORK/ceiling.log")

# Durable ingest.
mkdir -p "$WORK/data"
"$BIN" serve --listen 127.0.0.1:18182 --data-dir "$WORK/data" > /dev/null 2>&1 &
PID=$!
sleep 1.5
API=http://127.0.0.1:18182/api/v1
H=(-H "Authorization: Bearer $(cat "$WORK/data/admin-token")" -H "Content-Type: application/json")
curl -sf "${H[@]}" -X POST $API/objects/contacts/properties -d '{"name":"external_id","type":"string","unique":true}' > /dev/null
curl -sf "${H[@]}" -X POST $API/objects/contacts/records -d '{"properties":{"external_id":"cus_1"}}' > /dev/null
WH=$(curl -sf "${H[@]}" -X POST $API/webhooks -d '{"name":"bench"}')
ID=$(echo "$WH" | jq -r .id); HOOK=$(echo "$WH" | jq -r .url)
curl -sf -X POST "$HOOK" -H 'Content-Type: application/json' -d '{"customer":"cus_1"}' > /dev/null
curl -sf "${H[@]}" -X PUT $API/webhooks/$ID/mapping -d '{"properties":[{"path":"customer","type":"string"},{"path":"data.object.created_at","type":"string"}]}' > /dev/null
curl -sf "${H[@]}" -X PUT $API/webhooks/$ID/transforms -d '[{"plugin":"strtotime","config":{"from":"data.object.created_at"}}]' > /dev/null
curl -sf "${H[@]}" -X PUT $API/webhooks/$ID/match -d '{"object":"contacts","webhook_property":"customer","record_property":"external_id"}' > /dev/null
curl -sf "${H[@]}" -X POST $API/workflows -d "{\"name\":\"bench\",\"object\":\"contacts\",\"triggers\":[\"$ID\"],\"actions\":[]}" > /dev/null
# The load is one sender far above the default per-webhook rate limit; lift it.
curl -sf "${H[@]}" -X PUT $API/webhooks/$ID/rate-limit -d '{"per_second":1000000,"burst":10000000}' > /dev/null
processed() {
  sqlite3 "$WORK/data/wasmhook.db" "select count(*) from events where webhook_id='$ID' and status in ('enrolled','already_enrolled')"
}
# Waiting to be processed: in the database, and acknowledged into the ingest log but not in
# the database yet (the gauge).
backlog() {
  local stored logged
  stored=$(sqlite3 "$WORK/data/wasmhook.db" "select count(*) from events where status = 'accepted'")
  logged=$(curl -sf -H "Authorization: Bearer $(cat "$WORK/data/admin-token")" http://127.0.0.1:18182/metrics \
    | awk '/^wasmhook_ingest_log_unapplied_events/ {printf "%d", $2}')
  echo $((stored + ${logged:-0}))
}
# CPU ticks (user + system) of each of wasmhook's threads, by thread name, and of the whole
# process (which keeps the ticks of threads that have ended: the plugin pool's are started
# per batch).
thread_cpu() {
  echo "process $(awk '{print $14 + $15}' /proc/$PID/stat)"
  for t in /proc/$PID/task/*; do
    echo "$(tr ' ' '_' < "$t/comm") $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)"
  done
}
sync
thread_cpu > "$WORK/cpu-before"
START=$(date +%s.%N)
DURABLE_OUT=$(load "$HOOK")
LOAD_END=$(date +%s.%N)
BACKLOG_AT_END=$(backlog)
until [ "$(backlog)" = "0" ]; do sleep 0.2; done
DRAIN_END=$(date +%s.%N)
thread_cpu > "$WORK/cpu-after"
EVENTS=$(processed)
INGEST_RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
# Mapped database pages count in RSS but are the kernel's file cache; anonymous memory is
# what the process itself holds.
RSS_ANON_KB=$(awk '/RssAnon/ {print $2}' /proc/$PID/status)
WRITTEN_KB=$(awk '/^write_bytes/ {print int($2 / 1024)}' /proc/$PID/io)
sync
DURABLE256_OUT=$(load "$HOOK" 256)
until [ "$(backlog)" = "0" ]; do sleep 0.2; done

# Half the maximum rate, on the same server. wrk waits `delay` after each answer, so a
# connection's cycle is delay + latency, and latency depends on the rate: short paced runs
# adjust the delay (damped) until the rate is near the target, then the measured run.
DURABLE=$(echo "$DURABLE_OUT" | rate)
TARGET=$(python3 -c "print($DURABLE / 2)")
DELAY_MS=$(python3 -c "print(64000 / $TARGET)")
for _ in 1 2 3 4; do
  GOT=$(SECONDS_PER_RUN=3 paced "$HOOK" "$DELAY_MS" | rate)
  until [ "$(backlog)" = "0" ]; do sleep 0.2; done
  DELAY_MS=$(python3 -c "
latency = 64000 / $GOT - $DELAY_MS
print(max(0.1, ($DELAY_MS + 64000 / $TARGET - latency) / 2))")
done
HALF_OUT=$(paced "$HOOK" "$DELAY_MS")
until [ "$(backlog)" = "0" ]; do sleep 0.2; done

# A large record import over HTTP: progress while it runs, RSS sampled throughout.
python3 - "$WORK/records.ndjson" "$IMPORT_ROWS" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1, int(sys.argv[2]) + 1):
        f.write('{"external_id":"imp_%d","email":"person%d@example.com","score":%d}\n' % (i, i, i % 100))
PY
curl -sf "${H[@]}" -X POST $API/objects/contacts/properties -d '{"name":"email","type":"string","unique":true}' > /dev/null
curl -sf "${H[@]}" -X POST $API/objects/contacts/properties -d '{"name":"score","type":"number"}' > /dev/null
RSS_BEFORE_KB=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
IMPORT_START=$(date +%s.%N)
IMP=$(curl -sf -H "Authorization: Bearer $(cat "$WORK/data/admin-token")" -H "Content-Type: application/x-ndjson" \
  --data-binary @"$WORK/records.ndjson" -X POST $API/objects/contacts/records/import | jq -r .id)
UPLOADED=$(date +%s.%N)
MAX_RSS_KB=$RSS_BEFORE_KB
while :; do
  STATUS=$(curl -sf "${H[@]}" "$API/imports/$IMP")
  RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status); [ "$RSS" -gt "$MAX_RSS_KB" ] && MAX_RSS_KB=$RSS
  [ "$(echo "$STATUS" | jq -r .state)" != "running" ] && break
  echo "$STATUS" | jq -r '"  import: \(.progress * 100 | floor)% (\(.lines_done) lines, \(.rows_per_second) rows/s)"' >&2
  sleep 2
done
IMPORT_END=$(date +%s.%N)

HALF=$(echo "$HALF_OUT" | rate)
p99() { grep -A4 "Latency Distribution" | awk '$1 == "99%" {print $2}'; }
# One row per connection count: rate and p99 of each server, and the ratios.
python3 - "$SECONDS_PER_RUN" \
  "$(echo "$BARE64" | rate)" "$(echo "$BARE64" | p99)" "$(echo "$FSYNC64" | rate)" "$(echo "$FSYNC64" | p99)" \
  "$(echo "$DURABLE_OUT" | rate)" "$(echo "$DURABLE_OUT" | p99)" "$(echo "$DURABLE_OUT" | refused)" \
  "$(echo "$BARE256" | rate)" "$(echo "$BARE256" | p99)" "$(echo "$FSYNC256" | rate)" "$(echo "$FSYNC256" | p99)" \
  "$(echo "$DURABLE256_OUT" | rate)" "$(echo "$DURABLE256_OUT" | p99)" "$(echo "$DURABLE256_OUT" | refused)" <<'PY'
import sys
seconds, *cells = sys.argv[1:]
print(f"| wrk -t2, ~1 KB JSON, {seconds} s each | no storage | fsync ceiling | wasmhook serve | wasmhook / ceiling | p99 wasmhook / ceiling | wasmhook refusals (non-2xx) |")
print("|---|---:|---:|---:|---:|---:|---:|")
def ms(text):
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    for unit in ("us", "ms", "s"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float("nan")
for connections, row in ((64, cells[:7]), (256, cells[7:])):
    bare, bare_p99, ceiling, ceiling_p99, ours, ours_p99, refusals = row
    print(f"| {connections} connections | {float(bare):,.0f} req/s (p99 {bare_p99}) | {float(ceiling):,.0f} (p99 {ceiling_p99}) "
          f"| {float(ours):,.0f} (p99 {ours_p99}) | {float(ours) / float(ceiling):.2f} | {ms(ours_p99) / ms(ceiling_p99):.1f}x | {int(refusals):,} |")
PY
echo
python3 - "$(echo "$BARE64" | rate)" "$DURABLE" "$START" "$LOAD_END" "$DRAIN_END" "$EVENTS" "$BACKLOG_AT_END" "$INGEST_RSS_KB" \
  "$HALF" "$(echo "$BARE64" | p99)" "$(echo "$DURABLE_OUT" | p99)" "$(echo "$HALF_OUT" | p99)" \
  "$IMPORT_START" "$UPLOADED" "$IMPORT_END" "$STATUS" "$RSS_BEFORE_KB" "$MAX_RSS_KB" "$(stat -c %s "$WORK/records.ndjson")" \
  "$WRITTEN_KB" "$RSS_ANON_KB" <<'PY'
import json, sys
(base, durable, start, load_end, drain_end, events, backlog, rss, half, p99_base, p99_full, p99_half,
 imp_start, uploaded, imp_end, status, rss_before, rss_max, file_bytes, written_kb, rss_anon) = sys.argv[1:]
base, durable, half = float(base), float(durable), float(half)
start, load_end, drain_end = float(start), float(load_end), float(drain_end)
events, backlog = int(events), int(backlog)
status = json.loads(status)
print("| measure (64 connections) | value |\n|---|---:|")
print(f"| durable ingest (fsync'd group commit), acknowledgements/s | {durable:,.0f} ({durable / base:.2f} of no storage) |")
if events:
    print(f"| disk written by wasmhook serve per event (load and drain, from /proc/PID/io) | {int(written_kb) * 1024 / events:,.0f} bytes |")
overall = events / (drain_end - start)
after = backlog / (drain_end - load_end) if backlog else float("nan")
print(f"| events processed (coerce + strtotime + match + enroll) | {events:,} |")
print(f"| drain rate, load start to empty backlog, events/s | {overall:,.0f} ({overall / durable:.2f} of ingest) |")
print(f"| backlog at load end, then drained at events/s | {backlog:,} at {after:,.0f} ({after / durable:.2f} of ingest) |")
print(f"| p99 acknowledgement at full load: no storage / durable | {p99_base} / {p99_full} |")
print(f"| p99 acknowledgement at half the maximum rate ({half:,.0f} requests/s, target {durable / 2:,.0f}) | {p99_half} |")
print(f"| peak RSS of wasmhook serve during ingest (anonymous memory after it) | {int(rss) / 1024:.0f} MiB ({int(rss_anon) / 1024:.0f} MiB) |")
rows = status["created"] + status["updated"] + status["failed"]
total_s = float(imp_end) - float(imp_start)
print(f"| record import over HTTP: {rows:,} rows ({int(file_bytes) / 2**20:.0f} MiB NDJSON), {status['state']} | "
      f"{total_s:.0f} s, {rows / total_s:,.0f} rows/s (upload {float(uploaded) - float(imp_start):.1f} s) |")
print(f"| RSS during the import: before / peak | {int(rss_before) / 1024:.0f} MiB / {int(rss_max) / 1024:.0f} MiB |")
PY

# Where the CPU goes: wasmhook's per event (load and drain at 64 connections) by thread,
# against the fsync ceiling's per request at 64 connections, in the same run.
python3 - "$WORK/cpu-before" "$WORK/cpu-after" "$(cat "$WORK/ceiling-cpu-64-fsync")" \
  "$(echo "$FSYNC64" | awk '/requests in/ {print $1}')" "$EVENTS" "$(getconf CLK_TCK)" <<'PY'
import collections, sys
before_path, after_path, ceiling_ticks, ceiling_requests, events, hz = sys.argv[1:]
def by_thread(path):
    totals = collections.Counter()
    for line in open(path):
        name, _, ticks = line.rpartition(" ")
        totals[name] += int(ticks or 0)
    return totals
spent = by_thread(after_path)
spent.subtract(by_thread(before_path))
process = spent.pop("process")
# Thread names are cut to 15 characters by the kernel.
groups = [
    ("acknowledging: HTTP, parse, hand to the writer (tokio workers)", ("tokio-rt-worker",)),
    ("appending to the ingest log (writer, segments made ahead)", ("wasmhook-ingest", "wasmhook-log-se")),
    ("storing from the log, and processing there while it keeps up (applier)", ("wasmhook-applie",)),
    ("processing stored events: claim, match, enroll, statuses (pipeline lanes)", ("wasmhook-pipeli",)),
]
us = lambda ticks: ticks / int(hz) * 1e6 / max(int(events), 1)
ceiling = int(ceiling_ticks) / int(hz) * 1e6 / max(int(ceiling_requests), 1)
print()
print(f"| CPU per event, 64 connections, load and drain ({int(events):,} events) | µs | × the fsync ceiling's per request ({ceiling:.1f} µs) |")
print("|---|---:|---:|")
total = 0
for label, names in groups:
    ticks = sum(spent.pop(n, 0) for n in names)
    total += ticks
    print(f"| {label} | {us(ticks):.1f} | {us(ticks) / ceiling:.2f} |")
rest = process - total
print(f"| coerce and plugin calls (the pool's threads, started per batch), and other threads | {us(rest):.1f} | {us(rest) / ceiling:.2f} |")
print(f"| all of wasmhook serve | {us(process):.1f} | {us(process) / ceiling:.2f} |")
PY
