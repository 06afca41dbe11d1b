#!/usr/bin/env bash
# Builds the browser demo (examples/web) for wasm32-unknown-unknown, binds it with
# wasm-bindgen-cli, serves it on 127.0.0.1 and loads it in headless Chromium, whose WebGPU runs
# on SwiftShader (no GPU needed). Passes only if the page reports every case verified.
# Needs chromium, python3, the wasm32-unknown-unknown target and wasm-bindgen-cli of exactly the
# wasm-bindgen version in examples/web/Cargo.lock. Usage: .ci/web_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
(cd examples/web && cargo build --release --locked)
rm -rf examples/web/pkg
wasm-bindgen --target web --no-typescript --out-dir examples/web/pkg \
    target/wasm32-unknown-unknown/release/wino_web.wasm

log=$(mktemp) profile=$(mktemp -d) port=$((20000 + RANDOM % 20000))
python3 -m http.server --bind 127.0.0.1 --directory examples/web "$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -rf "$profile"' EXIT
for _ in $(seq 50); do grep -q "Serving HTTP" "$log" && break; sleep 0.1; done

# The page posts its log to /report when done (the server answers 404; the request line is the
# message). A real-time wait, not --virtual-time-budget: the GPU process works in real time.
# The network here is closed: no component updates, sync or first-run fetches.
timeout 600 chromium --headless=new --no-sandbox --enable-unsafe-webgpu \
    --disable-background-networking --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$profile" "http://127.0.0.1:$port/index.html?report" >/dev/null 2>&1 &
browser=$!
for _ in $(seq 300); do grep -q "GET /report?" "$log" && break; sleep 1; done
kill "$browser" 2>/dev/null || true
report=$(grep -o 'GET /report?[^ ]*' "$log" | head -1 | sed 's|GET /report?||')
if [ -z "$report" ]; then
    echo "web: FAILED: the page reported nothing within 300 s" >&2
    exit 1
fi
text=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$report")
echo "$text" | sed 's/^/web: /'
echo "$text" | tail -1 | grep -q '^ALL [0-9]* CASES VERIFIED$'
