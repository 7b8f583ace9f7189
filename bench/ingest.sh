#!/usr/bin/env bash
# Ingest benchmark, one run on this machine: durable ingest (wasmhook serve, a ready webhook
# with the strtotime transform, a match and a workflow) against the bare axum baseline
# (`wasmhook baseline`: content type + JSON parse, no storage), loaded by wrk from a
# separate process on loopback with a ~1 KB JSON body and 64 connections.
#   bash bench/ingest.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }
cargo build --release -q -p wasmhook
BIN=$PWD/target/release/wasmhook
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

python3 - "$WORK/post.lua" <<'PY'
import json, sys
body = json.dumps({"customer": "cus_1", "note": "x" * 880,
                   "data": {"object": {"amount": 4200, "created_at": "2024-03-10T09:15:00Z"}}})
open(sys.argv[1], "w").write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' % json.dumps(body))
print(f"body: {len(body)} bytes", file=sys.stderr)
PY

load() { wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/post.lua" --latency "$1"; }
rate() { awk '/Requests\/sec/ {print $2}'; }

# Baseline.
"$BIN" baseline --listen 127.0.0.1:18181 > /dev/null &
sleep 1
BASE_OUT=$(load http://127.0.0.1:18181/hooks/x)
kill %1; wait %1 2>/dev/null || true

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
START=$(date +%s.%N)
DURABLE_OUT=$(load "$HOOK")
LOAD_END=$(date +%s.%N)
until [ "$(curl -sf "${H[@]}" "$API/events?webhook=$ID&status=accepted&limit=1" | jq '.events|length')" = "0" ]; do sleep 0.5; done
DRAIN_END=$(date +%s.%N)
PEAK_RSS_KB=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
EVENTS=$(sqlite3 "$WORK/data/wasmhook.db" "select count(*) from events where webhook_id='$ID' and status in ('enrolled','already_enrolled')" 2>/dev/null || echo "?")

BASE=$(echo "$BASE_OUT" | rate); DURABLE=$(echo "$DURABLE_OUT" | rate)
python3 - "$BASE" "$DURABLE" "$START" "$LOAD_END" "$DRAIN_END" "$EVENTS" "$PEAK_RSS_KB" <<'PY'
import sys
base, durable, start, load_end, drain_end, events, rss = sys.argv[1:]
base, durable = float(base), float(durable)
drain_s = float(drain_end) - float(start)
print("| measure | value |\n|---|---:|")
print(f"| bare axum baseline, requests/s | {base:,.0f} |")
print(f"| durable ingest (fsync'd group commit), acknowledgements/s | {durable:,.0f} |")
print(f"| durable / baseline | {durable / base:.2f} |")
if events != "?":
    rate = int(events) / drain_s
    print(f"| events processed (coerce + strtotime + match + enroll) | {int(events):,} in {drain_s:.1f} s from load start |")
    print(f"| drain rate, events/s | {rate:,.0f} |")
    print(f"| drain / ingest | {rate / durable:.2f} |")
print(f"| peak RSS of wasmhook serve | {int(rss) / 1024:.0f} MiB |")
PY
echo
echo "baseline latency:"; echo "$BASE_OUT" | grep -A4 "Latency Distribution" | tail -4
echo "durable latency:";  echo "$DURABLE_OUT" | grep -A4 "Latency Distribution" | tail -4
