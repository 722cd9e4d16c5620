#!/usr/bin/env bash
# make run: start a storefence server on the embedded SQLite default with the
# example registry, enrol this machine as an agent, collect once into the
# server, print the audit, and leave the server running.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/storefence
dir=${STOREFENCE_DEMO_DIR:-./demo}
port=${STOREFENCE_DEMO_PORT:-8443}
url="http://127.0.0.1:$port"
mkdir -p "$dir"

if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
	kill "$(cat "$dir/server.pid")"; sleep 1
fi
[ -s "$dir/admin.token" ] || head -c 32 /dev/urandom | base64 | tr -d '\n=/+' > "$dir/admin.token"
cat > "$dir/server.yaml" <<YAML
listen: "127.0.0.1:$port"
database: $dir/storefence.db
stores_file: configs/examples/stores.yaml
secret_file: configs/examples/secret
admin_token_file: $dir/admin.token
YAML
cat > "$dir/agent.yaml" <<YAML
agent_id: this-machine
stores: [shop-br]
server: $url
token_file: $dir/agent.token
public_ip:
  timeout: 2s
YAML
[ -s "$dir/agent.token" ] || $bin token create --config "$dir/server.yaml" --agent this-machine > "$dir/agent.token" 2>/dev/null

nohup $bin server --config "$dir/server.yaml" > "$dir/server.log" 2>&1 &
echo $! > "$dir/server.pid"
for _ in $(seq 1 50); do
	curl -fsS "$url/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done

echo "== one collection of this machine, sent to the server"
$bin agent --once --config "$dir/agent.yaml" --log-level warn > "$dir/report.json" || true
echo "(report in $dir/report.json)"
echo
echo "== the audit, from the server"
$bin audit --server "$url" --token-file "$dir/admin.token" --fail-on none
echo
echo "storefence server running at $url (pid $(cat "$dir/server.pid"), log $dir/server.log, database $dir/storefence.db)"
echo "admin token in $dir/admin.token; stop it with: kill \$(cat $dir/server.pid)"
