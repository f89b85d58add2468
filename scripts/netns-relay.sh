#!/usr/bin/env bash
# netns-relay.sh: two tsstream nodes in their own network namespaces, joined
# by a veth link that the script cuts with `ip link set down`.
#
#   ns A: ffmpeg → node A (origin)   ==veth==   ns B: node B (-pull A) → viewer
#
# 1. A 2 s cut: TCP rides it out; the edge keeps its connection, no reconnect.
# 2. A 7 s cut (longer than the pull's 5 s idle timeout): the edge drops the
#    silent link, reconnects once the link is back, and its viewer stays
#    connected throughout.
# Needs root, iproute2 with netns, ffmpeg, curl and jq; skips (exit 0) with a
# message where they are missing. Run with `make netns-test`.
set -euo pipefail

skip() { echo "SKIP netns-relay: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root (ip netns)"
for tool in ip ffmpeg curl jq; do
	command -v "$tool" >/dev/null || skip "needs $tool"
done

id=$$
nsa="tsrelay-a-$id" nsb="tsrelay-b-$id" va="tsra$id" vb="tsrb$id"
net="10.$((id % 200 + 20)).$((id / 200 % 250)).0"
ipa="${net%.0}.1" ipb="${net%.0}.2"
work=$(mktemp -d)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$nsa" 2>/dev/null || true
	ip netns del "$nsb" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL netns-relay: $*"
	echo "--- node A log"; tail -n 20 "$work/a.log" || true
	echo "--- node B log"; tail -n 20 "$work/b.log" || true
	exit 1
}

ip netns add "$nsa" 2>/dev/null || skip "ip netns add is not allowed here"
ip netns add "$nsb"
ip link add "$va" type veth peer name "$vb" || skip "veth links are not allowed here"
ip link set "$va" netns "$nsa"
ip link set "$vb" netns "$nsb"
ip -n "$nsa" addr add "$ipa/24" dev "$va"
ip -n "$nsb" addr add "$ipb/24" dev "$vb"
for ns in "$nsa" "$nsb"; do ip -n "$ns" link set lo up; done
ip -n "$nsa" link set "$va" up
ip -n "$nsb" link set "$vb" up

root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && go build -o "$work/tsstream" ./cmd/tsstream)

ip netns exec "$nsa" "$work/tsstream" -name A -http "$ipa:8088" -ingest 127.0.0.1:50001 -ws "" \
	>"$work/a.log" 2>&1 &
pids+=($!)
ip netns exec "$nsb" "$work/tsstream" -name B -http "$ipb:8088" -ingest "" -ws "" \
	-pull "http://$ipa:8088/live/{stream}.ts" >"$work/b.log" 2>&1 &
pids+=($!)
sleep 0.5
ip netns exec "$nsa" ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=25:duration=60 \
	-c:v mpeg1video -b:v 500k -f mpegts tcp://127.0.0.1:50001 >"$work/ffmpeg.log" 2>&1 &
pids+=($!)

# The viewer retries its first GET until the publisher is up.
for _ in $(seq 50); do
	grep -q 'msg="publisher connected"' "$work/a.log" && break
	sleep 0.1
done
ip netns exec "$nsb" curl -sN "http://$ipb:8088/live/live.ts" -o "$work/view.ts" &
viewer=$!
pids+=($viewer)

size() { stat -c %s "$work/view.ts" 2>/dev/null || echo 0; }
link() { ip netns exec "$nsb" curl -s "http://$ipb:8088/api/v1/node" | jq -c '.links[] | select(.stream=="live")'; }
reconnects() { link | jq -s '.[0].reconnects // 0'; }
waitgrow() { # waitgrow BYTES WHAT: the viewer's file grows by BYTES within 15 s
	local from; from=$(size)
	for _ in $(seq 150); do
		[ "$(size)" -gt $((from + $1)) ] && return 0
		kill -0 "$viewer" 2>/dev/null || fail "the viewer was disconnected ($2)"
		sleep 0.1
	done
	fail "the viewer got no data ($2)"
}

waitgrow 65536 "at start"
echo "edge link: $(link)"

ip -n "$nsa" link set "$va" down
sleep 2
ip -n "$nsa" link set "$va" up
waitgrow 65536 "after a 2 s cut"
[ "$(reconnects)" = 0 ] || fail "the edge reconnected across a 2 s cut; TCP should have carried it"
echo "ok: 2 s cut ridden out on one connection"

ip -n "$nsa" link set "$va" down
sleep 7
ip -n "$nsa" link set "$va" up
up=$(date +%s.%N)
for _ in $(seq 100); do
	[ "$(reconnects)" -ge 1 ] && [ "$(link | jq -r .state)" = up ] && break
	sleep 0.1
done
[ "$(reconnects)" -ge 1 ] || fail "the edge did not reconnect after a 7 s cut"
back=$(date +%s.%N)
waitgrow 65536 "after a 7 s cut"
printf 'ok: 7 s cut: the edge reconnected %.1f s after the link came back; the viewer stayed connected\n' \
	"$(awk -v a="$back" -v b="$up" 'BEGIN { print a - b }')"
echo "edge link: $(link)"
echo "PASS netns-relay"
