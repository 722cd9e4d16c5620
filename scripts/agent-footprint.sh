#!/usr/bin/env bash
# agent-footprint.sh: measure a real `storefence agent` process (the
# agent-only build by default) over DURATION seconds at a 10 s schedule,
# against a local `storefence server` and a local DNS echo server, and print
# its memory (VmRSS, RssAnon, RssFile, VmHWM), CPU per cycle, threads and
# descriptors. BENCHMARKS.md records the figures.
#   scripts/agent-footprint.sh [DURATION] [agentonly|full]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
variant=${2:-agentonly}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sf-footprint.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
tags=""; [ "$variant" = agentonly ] && tags="-tags agentonly"
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$dir/storefence-full" ./cmd/storefence
CGO_ENABLED=0 go build $tags -trimpath -ldflags '-s -w' -o "$dir/storefence-agent" ./cmd/storefence
go build -o "$dir/dnsecho" ./internal/tools/dnsecho
port=$((20000 + RANDOM % 10000)); dnsport=$((port + 1))
head -c 32 /dev/urandom | base64 | tr -d '\n=/+' > "$dir/admin.token"
cat > "$dir/server.yaml" <<YAML
listen: "127.0.0.1:$port"
database: $dir/sf.db
stores_file: configs/examples/stores.yaml
secret_file: configs/examples/secret
admin_token_file: $dir/admin.token
YAML
cat > "$dir/agent.yaml" <<YAML
agent_id: footprint
stores: [shop-br]
server: http://127.0.0.1:$port
token_file: $dir/agent.token
schedule: "@every 10s"
spool_dir: $dir/spool
public_ip:
  timeout: 2s
  providers:
    - {name: echo-a, kind: dns, server: "127.0.0.1:$dnsport", query: "myip.example.", type: A}
    - {name: echo-b, kind: dns, server: "127.0.0.1:$dnsport", query: "myip.example.", type: TXT}
  resolver_egress: {query: "whoami.example.", server: "127.0.0.1:$dnsport"}
YAML
"$dir/storefence-full" token create --config "$dir/server.yaml" --agent footprint > "$dir/agent.token" 2>/dev/null
"$dir/dnsecho" -listen "127.0.0.1:$dnsport" -answer 198.51.100.7 >/dev/null 2>&1 &
"$dir/storefence-full" server --config "$dir/server.yaml" --log-level warn >"$dir/server.log" 2>&1 &
sleep 1
"$dir/storefence-agent" agent --config "$dir/agent.yaml" --log-level warn >"$dir/agent.log" 2>&1 &
pid=$!
field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
printf 'binary %s: %s bytes\n' "$variant" "$(stat -c %s "$dir/storefence-agent")"
printf '%6s %8s %8s %8s %8s %7s %4s\n' t_s VmRSS_kB RssAnon RssFile VmHWM cpu_ms fds
start=$(date +%s); cpu0=$(cpu)
for ((t = 0; t <= duration; t += 30)); do
	sleep $((t == 0 ? 1 : 30))
	printf '%6d %8s %8s %8s %8s %7d %4d\n' "$(( $(date +%s) - start ))" "$(field VmRSS)" "$(field RssAnon)" "$(field RssFile)" "$(field VmHWM)" \
		$(( ($(cpu) - cpu0) * 1000 / hz )) "$(ls /proc/$pid/fd | wc -l)"
done
cycles=$(( ($(date +%s) - start) / 10 ))
echo "threads $(field Threads); cycles about $cycles; CPU per cycle about $(( ($(cpu) - cpu0) * 1000 / hz / (cycles > 0 ? cycles : 1) )) ms"
echo "the server's view of the agent: $(curl -fsS -H "Authorization: Bearer $(cat "$dir/admin.token")" "http://127.0.0.1:$port/api/v1/agents")"
