#!/usr/bin/env bash
# dimred on object storage, against a real local S3 server: moto's (`moto_server`, from
# PyPI in a venv this script makes), started on loopback with authentication on and
# stopped by its pid at the end. Covers a fit with s3:// input and output (Parquet glob and
# CSV), a sharded fit and merge, a transform (whole and sharded), the bad-input cases (bad
# credentials, no such bucket, no matching objects, a missing shard) with nothing written
# under a final name, memory while streaming a file larger than the process and a row group
# larger than its limit (fetched in slices of rows), each file's footer read once over a
# many-pass fit (requests counted by tests/s3/count_proxy.py), and greps
# every output and every object for the secret it used.
#
#   tests/s3/run.sh [path/to/dimred]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dimred=$(realpath "${1:-target/release/dimred}")
venv=$root/target/s3-venv
work=$(mktemp -d /tmp/dimred-s3.XXXXXX)
log=$work/everything.log
cleanup() {
    [ -s "$work/moto.pid" ] && kill "$(cat "$work/moto.pid")" 2>/dev/null || true
    [ -s "$work/proxy.pid" ] && kill "$(cat "$work/proxy.pid")" 2>/dev/null || true
    [ -s "$work/moto-tls.pid" ] && kill "$(cat "$work/moto-tls.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "[s3 test] $*"; }
fail() { say "FAILED: $*"; tail -n 20 "$log" 2>/dev/null; exit 1; }

if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/s3/requirements.txt
fi
py=$venv/bin/python
s3() { "$py" "$root/tests/s3/s3.py" "$@"; }

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# authentication on after the three requests that make the user (tests/s3/s3.py user)
INITIAL_NO_AUTH_ACTION_COUNT=3 "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
echo $! >"$work/moto.pid"
export AWS_ENDPOINT=http://127.0.0.1:$port AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
    AWS_DEFAULT_REGION=us-east-1
# ready when it accepts a connection (an HTTP request would use up one of the three)
"$py" - "$port" <<'PY' || fail "moto_server did not start: $(cat "$work/moto.log")"
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY <<<"$(s3 user)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
secret=$AWS_SECRET_ACCESS_KEY
say "moto_server on $AWS_ENDPOINT (pid $(cat "$work/moto.pid")), authentication on"

# every dimred call: its stdout and stderr kept (for the secret grep) and shown on failure
dr() { "$dimred" "$@" >>"$log" 2>&1; }
expect_error() { # CODE TEXT ARGS...: fails with exit CODE, one line naming TEXT
    local code=$1 text=$2 rc=0
    shift 2
    "$dimred" "$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
    cat "$work/out.txt" "$work/err.txt" >>"$log"
    [ "$rc" = "$code" ] || fail "$* exited $rc, not $code: $(cat "$work/err.txt")"
    [ "$(wc -l <"$work/err.txt")" = 1 ] || fail "$* printed more than one line: $(cat "$work/err.txt")"
    grep -q -- "$text" "$work/err.txt" || fail "$*: '$text' not in: $(cat "$work/err.txt")"
    say "refused (exit $rc): $(cat "$work/err.txt")"
}

s3 mb data
s3 mb out
mkdir -p "$work/data"
"$dimred" generate --rows 60000 --cols 24 --rank 4 --seed 9 --row-group-rows 5000 -q \
    --output "$work/data/part-0.parquet"
"$dimred" generate --rows 30000 --cols 24 --rank 4 --seed 10 --row-group-rows 5000 -q \
    --output "$work/data/part-1.parquet"
rm -f "$work"/data/*.eigenvalues.json
for f in part-0 part-1; do s3 put "$work/data/$f.parquet" "s3://data/gen/$f.parquet"; done
s3 put "$work/data/part-0.parquet" "s3://data/gen/other/part-9.parquet" # not matched by gen/*.parquet
s3 put "$root/sample-data/breast_cancer.csv" s3://data/bc/breast_cancer.csv

cat >"$work/pipeline.yaml" <<YAML
name: s3-sharded
input:
  path: placeholder
steps:
  - scale: { method: standard }
  - pca: { n_components: 4, solver: exact }
output:
  dir: placeholder
YAML

same_model() { # REFERENCE OTHER ROWS: two model.json files hold the same model (1e-10)
    "$py" "$root/tests/same_model.py" "$1" "$2" "$3" "s3 test"
}
rows_of() { # FILE...: the rows in Parquet files
    local rows=0 n
    for f in "$@"; do
        n=$("$dimred" scan "$f" --json -q | "$py" -c "import json,sys; print(json.load(sys.stdin)['rows'])")
        rows=$((rows + n))
    done
    echo "$rows"
}

say "the reference: the same fit on local copies"
dr run "$work/pipeline.yaml" -q --set "input.path=$work/data" --set "output.dir=$work/local"

say "a fit from s3:// into s3://"
dr run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/*.parquet" --set "output.dir=s3://out/full"
for f in model.json model.npz report.json report.html reduced.parquet state/fit.json; do
    s3 ls "s3://out/full/$f" | grep -qx "full/$f" || fail "s3://out/full/$f was not written"
done
s3 get s3://out/full/model.json "$work/full-model.json"
same_model "$work/local/model.json" "$work/full-model.json" 90000
s3 get s3://out/full/reduced.parquet "$work/full-reduced.parquet"
[ "$(rows_of "$work/full-reduced.parquet")" = 90000 ] || fail "reduced.parquet does not hold 90000 rows"
grep -q '"s3://out/full/model.json"' <(s3 cat s3://out/full/report.json) \
    || fail "report.json does not name the outputs by their URLs"
[ -z "$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name "dimred-out-*" -newer "$work/pipeline.yaml" 2>/dev/null)" ] \
    || fail "a staging folder was left behind"

say "a rerun into the same s3:// folder replaces the set: nothing of the previous run stays"
dr run "$root/pipelines/breast_cancer_pca.yaml" -q --set input.path=s3://data/bc/breast_cancer.csv \
    --set output.dir=s3://out/rerun --set output.onnx=true
s3 ls s3://out/rerun/model.onnx | grep -qx "rerun/model.onnx" || fail "the first run wrote no model.onnx"
dr run "$root/pipelines/breast_cancer_pca.yaml" -q --set input.path=s3://data/bc/breast_cancer.csv \
    --set output.dir=s3://out/rerun --set output.reduced=false
[ -z "$(s3 ls s3://out/rerun/model.onnx)" ] || fail "the previous run's model.onnx stayed beside the new set"
[ -z "$(s3 ls s3://out/rerun/reduced.parquet)" ] || fail "the previous run's reduced.parquet stayed beside the new set"
s3 cat s3://out/rerun/_SUCCESS | grep -qx "model.json" || fail "_SUCCESS does not list the new set"
! s3 cat s3://out/rerun/_SUCCESS | grep -q "model.onnx" || fail "_SUCCESS lists the previous run's files"

say "CSV from s3:// (the sample data)"
dr run "$root/pipelines/breast_cancer_pca.yaml" -q --set "output.dir=$work/bc-local"
dr run "$root/pipelines/breast_cancer_pca.yaml" -q --set input.path=s3://data/bc/breast_cancer.csv \
    --set output.dir=s3://out/bc
s3 get s3://out/bc/model.json "$work/bc-model.json"
same_model "$work/bc-local/model.json" "$work/bc-model.json" 569

say "a sharded fit: 3 shards from s3://, merged in s3://"
for i in 2 0 1; do
    dr run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/*.parquet" \
        --set output.dir=s3://out/sharded --shard "$i/3"
done
[ -z "$(s3 ls s3://out/sharded/model.json)" ] || fail "a shard wrote a model"
dr merge "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/*.parquet" --set output.dir=s3://out/sharded
s3 get s3://out/sharded/model.json "$work/sharded-model.json"
same_model "$work/local/model.json" "$work/sharded-model.json" 90000

say "transform: whole and in 3 shards, model and input in s3://"
dr transform --model s3://out/sharded/model.json --input "s3://data/gen/*.parquet" \
    --output s3://out/t/reduced.parquet -q
for i in 0 1 2; do
    dr transform --model s3://out/sharded/model.json --input "s3://data/gen/*.parquet" \
        --output s3://out/t/reduced.parquet --shard "$i/3" -q
done
for f in reduced reduced-0-of-3 reduced-1-of-3 reduced-2-of-3; do
    s3 get "s3://out/t/$f.parquet" "$work/$f.parquet"
done
[ "$(rows_of "$work/reduced.parquet")" = 90000 ] || fail "the transform does not hold 90000 rows"
[ "$(rows_of "$work"/reduced-?-of-3.parquet)" = 90000 ] || fail "the transform shards do not hold 90000 rows"

say "a scheduled update: merge --with an earlier output in s3://"
dr run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/part-0.parquet" --set output.dir=s3://out/day1
for i in 0 1; do
    dr run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/part-1.parquet" \
        --set output.dir=s3://out/day2 --shard "$i/2"
done
dr merge "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/part-1.parquet" \
    --set output.dir=s3://out/day2 --with s3://out/day1
s3 get s3://out/day2/model.json "$work/day2-model.json"
same_model "$work/local/model.json" "$work/day2-model.json" 90000

say "footers read once: a 4-pass fit and its output pass through a counting proxy"
# every request dimred makes goes through tests/s3/count_proxy.py, which logs its method,
# path and Range; a footer read is a ranged GET that ends at the object's last byte
"$py" "$root/tests/s3/count_proxy.py" "$port" "$work/requests.log" >"$work/proxy.port" &
echo $! >"$work/proxy.pid"
for _ in $(seq 100); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
[ -s "$work/proxy.port" ] || fail "the counting proxy did not start"
cat >"$work/passes.yaml" <<YAML
name: s3-passes
input:
  path: s3://data/gen/*.parquet
  spill: false
steps:
  - pca: { n_components: 4, solver: randomized, power_iterations: 2 }
output:
  dir: $work/passes
YAML
AWS_ENDPOINT=http://127.0.0.1:$(cat "$work/proxy.port") dr run "$work/passes.yaml" -q
kill "$(cat "$work/proxy.pid")"
counts=$("$py" - "$work/requests.log" "$work/passes/report.json" "$work/data" <<'PY'
import collections, json, os, sys
log, report, data = sys.argv[1:]
passes = len(json.load(open(report))["passes"])
sizes = {f"/data/gen/{f}": os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)}
footer, gets = collections.Counter(), collections.Counter()
for line in open(log):
    method, path, rng, status = line.split()
    if method != "GET" or path not in sizes:
        continue
    gets[path] += 1
    if rng.startswith("bytes=") and rng[6:].split("-")[1] in ("", str(sizes[path] - 1)):
        footer[path] += 1
print(passes, sum(1 for _ in open(log)), " ".join(f"{os.path.basename(p)}:{footer[p]}/{gets[p]}" for p in sorted(sizes)))
PY
)
read -r passes requests per_file <<<"$counts"
say "$passes passes, $requests requests; footer reads / GETs per file: $per_file"
for f in $per_file; do # NAME:FOOTER_READS/GETS
    footers=${f#*:}
    [ "${footers%/*}" = 1 ] || fail "$f: the footer was read ${footers%/*} times over $passes passes, not once"
done
[ "$passes" -ge 4 ] || fail "the pipeline made $passes passes, not the 4 or more the check needs"

say "bad input: one clear line, the README's exit code, nothing written"
export GOOD_SECRET=$secret
AWS_SECRET_ACCESS_KEY=wrong-$secret expect_error 4 "credentials were refused" \
    run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/*.parquet" --set output.dir=s3://out/bad
AWS_SECRET_ACCESS_KEY=wrong-$secret expect_error 4 "credentials were refused" \
    run "$work/pipeline.yaml" -q --set "input.path=$work/data" --set output.dir=s3://out/bad
expect_error 4 "no such bucket" \
    run "$work/pipeline.yaml" -q --set "input.path=s3://no-such-bucket/*.parquet" --set output.dir=s3://out/bad
expect_error 4 "no such bucket" \
    run "$work/pipeline.yaml" -q --set "input.path=$work/data" --set output.dir=s3://no-such-bucket/out
expect_error 2 "no .csv, .csv.gz or .parquet files found" \
    run "$work/pipeline.yaml" -q --set "input.path=s3://data/nothing/*.parquet" --set output.dir=s3://out/bad
expect_error 4 "no such object" \
    run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/part-7.parquet" --set output.dir=s3://out/bad
dr run "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/*.parquet" --set output.dir=s3://out/bad --shard 0/2
expect_error 2 "shard(s) 1 of 2 have no partial state yet" \
    merge "$work/pipeline.yaml" -q --set "input.path=s3://data/gen/*.parquet" --set output.dir=s3://out/bad
expect_error 4 "no such object" \
    transform --model s3://out/nothing/model.json --input "s3://data/gen/*.parquet" --output s3://out/bad/r.parquet
[ "$(s3 ls s3://out/bad)" = "bad/partials/shard-0-of-2.json" ] \
    || fail "a failed command wrote into s3://out/bad: $(s3 ls s3://out/bad)"

say "memory: a 1,000,000 × 32 file (256 MB) streamed from s3:// in a process far smaller"
"$dimred" generate --rows 1000000 --cols 32 --rank 4 --seed 3 -q --output "$work/big.parquet"
s3 put "$work/big.parquet" s3://data/big/big.parquet
rm -f "$work/big.parquet" "$work"/big.eigenvalues.json
dr run "$work/pipeline.yaml" -q --set input.path=s3://data/big/big.parquet --set output.dir=s3://out/big \
    --set output.reduced=false
peak=$(s3 cat s3://out/big/report.json | "$py" -c "import json,sys; print(json.load(sys.stdin)['peak_rss_bytes'])")
say "peak RSS $((peak >> 20)) MiB while reading 256 MB"
[ "$peak" -lt $((200 << 20)) ] || fail "peak RSS $peak bytes: the file was not streamed"

say "memory: 300,000 × 64 in one row group (154 MB) fetched from s3:// in slices of its rows"
"$dimred" generate --rows 300000 --cols 64 --rank 4 --seed 4 --row-group-rows 300000 -q \
    --output "$work/one.parquet"
s3 put "$work/one.parquet" s3://data/one/one.parquet
# fetched whole (two in flight, 2.5 x 154 MB each) it would not fit; in 16 MiB slices it does
dr run "$work/pipeline.yaml" -q --set input.path=s3://data/one/one.parquet --set output.dir=s3://out/one \
    --set output.reduced=false --memory-limit 320MiB
dr run "$work/pipeline.yaml" -q --set input.path="$work/one.parquet" --set output.dir="$work/one-local" \
    --set output.reduced=false
rm -f "$work/one.parquet" "$work"/one.eigenvalues.json
s3 cat s3://out/one/report.json >"$work/one-report.json"
s3 cat s3://out/one/model.json >"$work/one-model.json"
"$py" - "$work/one-report.json" "$work/one-model.json" "$work/one-local/model.json" <<'PY' || fail "the sliced read"
import json, sys
report, remote, local = (json.load(open(f)) for f in sys.argv[1:])
peak = report["peak_rss_bytes"]
print(f"[s3 test] peak RSS {peak >> 20} MiB under the 320 MiB limit; reader counted at {report['memory']['reader_bytes'] >> 20} MiB")
assert peak < 320 << 20, peak
assert remote["n_samples_seen_"] == local["n_samples_seen_"] == 300000
# the slices give the rows the local reader gives, so the same model bit for bit
assert remote["components_"] == local["components_"], "models differ"
PY

say "no secret anywhere: every output line and every object written"
grep -qF -- "$secret" "$log" && fail "the secret is in dimred's output"
mkdir -p "$work/objects"
for key in $(s3 ls s3://out/); do
    s3 get "s3://out/$key" "$work/objects/$(echo "$key" | tr / _)"
done
if grep -rqF -- "$secret" "$work/objects"; then fail "the secret is in an object dimred wrote"; fi
say "ok: $(s3 ls s3://out/ | wc -l) objects written, none holds the secret"

# Over TLS: a second server with a certificate it makes up (moto_server --ssl), which
# dimred is told to accept; the handshake and the request signing run on the crypto
# provider dimred installs (ring), so a build without one fails here.
say "TLS: a fit from and into https://"
tport=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$tport" --ssl >"$work/moto-tls.log" 2>&1 &
echo $! >"$work/moto-tls.pid"
export AWS_ENDPOINT=https://127.0.0.1:$tport AWS_ALLOW_INVALID_CERTIFICATES=true
"$py" - "$tport" <<'PY' || fail "moto_server --ssl did not start: $(cat "$work/moto-tls.log")"
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
s3 mb tls
for f in part-0 part-1; do s3 put "$work/data/$f.parquet" "s3://tls/gen/$f.parquet"; done
dr run "$work/pipeline.yaml" -q --set "input.path=s3://tls/gen/*.parquet" --set "output.dir=s3://tls/out"
s3 cat s3://tls/out/model.json >"$work/tls-model.json"
same_model "$work/local/model.json" "$work/tls-model.json" 90000
say "ok: the fit over TLS equals the local fit"
