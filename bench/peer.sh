#!/usr/bin/env bash
# Side-by-side benchmark of nines and Prometheus Alertmanager, through the
# same harness (../shared/peers), the same routing (peers/am.yml: group by
# alertname and service, group_wait 0s, group_interval 1s, webhook v4 to the
# harness's sink) and the same clients, one after the other in one run, so
# the ratios compare like with like on this machine.
#
#   bench/peer.sh                         # RUNS=1, the phases below
#   RUNS=3 PHASES="tput wrk" bench/peer.sh
#   PEERS=/path/to/peers SKIP_AM=1 bench/peer.sh
#
# Results: bench/results/{nines,alertmanager}-<date>.{json,md} (+ raw/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PEERS=$(cd "${PEERS:-$ROOT/../shared/peers}" && pwd)
export RUNS=${RUNS:-1}
export PHASES=${PHASES:-"startup tput wrk latency latency_newgroup rss amtool probe"}
export OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
mkdir -p "$OUT_DIR"

need=()
for tool in wrk hyperfine curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench/peer.sh: installing ${need[*]} (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --locked -q
NINES=$ROOT/target/release/nines

# nines, started fresh for every phase by the harness; the sink's port is
# written into its copy of am.yml, as start-alertmanager.sh does for Alertmanager.
SUT_NAME=nines \
SUT_VERSION="nines $(git rev-parse --short HEAD)" \
SUT_START="sed \"s/127.0.0.1:9099/127.0.0.1:\$SINK_PORT/\" '$PEERS/am.yml' > \"\$BENCH_STATE_DIR/am.yml\" && '$PEERS/start-cmd.sh' http://127.0.0.1:9093/-/ready -- '$NINES' serve --config '$ROOT/bench/config' --alertmanager-config \"\$BENCH_STATE_DIR/am.yml\" --data \"\$BENCH_STATE_DIR/data\" --listen 127.0.0.1:9093 --log-level warn" \
SUT_BASE_URL=http://127.0.0.1:9093 \
  "$PEERS/bench.sh"

if [ -z "${SKIP_AM:-}" ]; then
  "$PEERS/bench-am.sh"
fi
echo "bench/peer.sh: results in $OUT_DIR" >&2
