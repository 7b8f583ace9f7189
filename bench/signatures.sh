#!/usr/bin/env bash
# Ingest with Standard Webhooks signature verification on, against off, in one run on
# this machine: the same server, two webhooks that differ only in the signature setting,
# loaded in turn (interleaved, 5 rounds; this machine drifts by tens of percent between
# loads, so the summary is the ratio of the summed rates) by wrk from a separate process on loopback with
# a ~1 KB JSON body and 64 connections. Every request carries the same valid signature
# (a timestamp taken at start, tolerance 1 day); dedup is pointed at an absent body path
# so no request counts as a redelivery.
#   bash bench/signatures.sh [seconds per load]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-5}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq; }
cargo build --release -q -p wasmhook
BIN=$PWD/target/release/wasmhook
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
"$BIN" serve --listen 127.0.0.1:18183 --data-dir "$WORK/data" > /dev/null 2>&1 &
sleep 1.5
API=http://127.0.0.1:18183/api/v1
H=(-H "Authorization: Bearer $(cat "$WORK/data/admin-token")" -H "Content-Type: application/json")
SECRET="whsec_$(head -c 32 /dev/urandom | base64 -w0)"
hook() {
  local wh id
  wh=$(curl -sf "${H[@]}" -X POST $API/webhooks -d "{\"name\":\"$1\"}")
  id=$(echo "$wh" | jq -r .id)
  curl -sf "${H[@]}" -X PUT $API/webhooks/$id/dedup -d '{"body_path":"no.such.path"}' > /dev/null
  curl -sf "${H[@]}" -X PUT $API/webhooks/$id/rate-limit -d '{"per_second":1000000,"burst":10000000}' > /dev/null
  if [ "$1" = signed ]; then
    curl -sf "${H[@]}" -X PUT $API/webhooks/$id/signature \
      -d "{\"scheme\":\"standard-webhooks\",\"secret\":\"$SECRET\",\"tolerance_s\":86400}" > /dev/null
    curl -sf "${H[@]}" -X PUT $API/webhooks/$id/dedup -d '{"body_path":"no.such.path"}' > /dev/null
  fi
  echo "$wh" | jq -r .url
}
PLAIN=$(hook plain); SIGNED=$(hook signed)
python3 - "$WORK/post.lua" "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
body = json.dumps({"customer": "cus_1", "note": "x" * 880,
                   "data": {"object": {"amount": 4200, "created_at": "2024-03-10T09:15:00Z"}}})
key = base64.b64decode(sys.argv[2][len("whsec_"):])
ts = str(int(time.time()))
sig = base64.b64encode(hmac.new(key, f"msg_bench.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
open(sys.argv[1], "w").write(
    'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["webhook-id"] = "msg_bench"\nwrk.headers["webhook-timestamp"] = "%s"\n'
    'wrk.headers["webhook-signature"] = "v1,%s"\n' % (json.dumps(body), ts, sig))
PY
# One signed request must be accepted, or the numbers mean nothing.
code=$(wrk -t1 -c1 -d1s -s "$WORK/post.lua" "$SIGNED" | awk '/Non-2xx/ {print "bad"}')
[ -z "$code" ] || { echo "signed requests are refused; aborting" >&2; exit 1; }
rate() { wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/post.lua" "$1" | awk '/Non-2xx/ {print "ERR"} /Requests\/sec/ {print $2}'; }
echo "| round | verification off, requests/s | standard-webhooks on, requests/s | on / off |"
echo "|---:|---:|---:|---:|"
sum_off=0; sum_on=0
for round in 1 2 3 4 5; do
  off=$(rate "$PLAIN"); on=$(rate "$SIGNED")
  sum_off=$(awk -v a="$sum_off" -v b="$off" 'BEGIN { print a + b }'); sum_on=$(awk -v a="$sum_on" -v b="$on" 'BEGIN { print a + b }')
  case "$off$on" in *ERR*) echo "non-2xx answers in round $round" >&2; exit 1;; esac
  awk -v r="$round" -v off="$off" -v on="$on" 'BEGIN { printf "| %d | %.0f | %.0f | %.2f |\n", r, off, on, on / off }'
done
awk -v off="$sum_off" -v on="$sum_on" 'BEGIN { printf "| all | %.0f | %.0f | **%.2f** |\n", off / 5, on / 5, on / off }'
