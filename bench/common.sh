# Shared by the bench/ scripts: a throwaway stack on loopback and its API key.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.build/release/billing
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || export PATH="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):$PATH"
mkdir -p .data
BENCH_DIR=$(mktemp -d "$PWD/.data/bench-XXXXXX")
BENCH_PORT=${BENCH_PORT:-18280}
cleanup() { KEEP_DATA=0 scripts/stack.sh down "$BENCH_DIR" >/dev/null 2>&1; rm -rf "$BENCH_DIR"; }
trap cleanup EXIT

start_stack() {
    # No per-client rate limit: wrk is one client on purpose.
    # Quiet unless it fails: then what it said (bench/run's test clock once ended with no word).
    RATE_LIMIT=1000000r/s RATE_BURST=1000000 BILLING_RUN_INTERVAL=0 \
        scripts/stack.sh up "$BENCH_DIR" "$BENCH_PORT" >"$BENCH_DIR/stack-up.log" 2>&1 || {
        echo "$(basename "$0"): the stack did not start:" >&2
        tail -n 30 "$BENCH_DIR/stack-up.log" >&2
        exit 1
    }
    URL=$(scripts/stack.sh url "$BENCH_DIR")
    HOME_DIR=$(scripts/stack.sh home "$BENCH_DIR")
    BASE=http://127.0.0.1:$BENCH_PORT
    KEY=$("$BIN" api-key create --name bench --quiet --database-url "$URL")
}

api() { curl -fsS -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" "$@"; }

median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

wrk_run() {  # name url [lua] → requests/s p50 p99 non-2xx (in $OUT; WRK_THREADS, WRK_CONNECTIONS)
    local name=$1 url=$2 lua=${3:-}
    local args=(-t "${WRK_THREADS:-2}" -c "${WRK_CONNECTIONS:-$CONNECTIONS}" -d "${DURATION}s" --latency
        -H "Authorization: Bearer $KEY")
    [ -n "$lua" ] && args+=(-s "$lua")
    wrk "${args[@]}" "$url" >"$OUT/$name.txt"
    python3 - "$OUT/$name.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(label):
    value = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", text)
    number, unit = float(value.group(1)), value.group(2)
    return number / 1000 if unit == "us" else number * 1000 if unit == "s" else number
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rate:.0f} {ms('50%'):.2f} {ms('99%'):.2f} {bad.group(1) if bad else 0}")
PY
}
