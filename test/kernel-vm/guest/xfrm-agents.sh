#!/bin/bash
# Runs INSIDE the kernel-vm guest (Debian's kernel, which has ESP), from the repository root:
# two network namespaces, each running `node dist/keyline.js run` with driver=xfrm: IKEv2
# between them over a veth (192.0.2.1 <-> 192.0.2.2), ESP done by the kernel. Inner subnets
# 198.51.100.0/24 (A) and 203.0.113.0/24 (B) sit on each namespace's loopback, routed towards
# the peer (the kernel's policy lookup then takes the packets into ESP).
# Cases: AES-GCM tunnel with a child rekey under a running ping; ChaCha20-Poly1305 with ESN;
# AES-CBC/HMAC-SHA-256 transport mode between the gateways (IKE bypass policies needed);
# start=on-traffic from a kernel ACQUIRE. After each case both agents stop and must leave no
# SA or policy behind. Prints "ok: …" / "FAIL: …" lines and "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.." || exit 2
BUNDLE=$PWD/dist/keyline.js
A=kvx-a B=kvx-b
WORK=$(mktemp -d /tmp/kvx.XXXXXX)
pass=0 fail=0
PIDS=()
ok()  { echo "ok: $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }

cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

[ -f "$BUNDLE" ] || { echo "FAIL: $BUNDLE missing (node build.mjs first)"; echo "0 passed, 1 failed"; exit 1; }
echo "kernel: $(uname -r); node $(node --version); $(ip -V)"
modprobe -a esp4 xfrm_user xfrm4_tunnel 2>&1 || true

{ ip netns add $A && ip netns add $B; } || { bad "netns add"; echo "$pass passed, $fail failed"; exit 1; }
ip link add veth0 netns $A type veth peer name veth0 netns $B
ip -n $A addr add 192.0.2.1/24 dev veth0; ip -n $B addr add 192.0.2.2/24 dev veth0
for ns in $A $B; do ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up; done
ip -n $A addr add 198.51.100.1/24 dev lo; ip -n $B addr add 203.0.113.1/24 dev lo
ip -n $A route add 203.0.113.0/24 via 192.0.2.2; ip -n $B route add 198.51.100.0/24 via 192.0.2.1
# The driver alone first (its SAs also load every algorithm's modules, slow under TCG).
if [ -n "${1:-}" ]; then
  echo
  echo "=== driver: XfrmDriver against the kernel, no IKE ($1)"
  out=$(timeout -k 5 240 node "$1" $A $B 2>&1); rc=$?
  echo "$out"
  pass=$((pass + $(grep -c '^ok:' <<<"$out"))); fail=$((fail + $(grep -c '^FAIL:' <<<"$out")))
  [ $rc -ne 0 ] && ! grep -q '^FAIL:' <<<"$out" && bad "driver: check exited $rc"
  for ns in $A $B; do ip -n "$ns" xfrm state flush; ip -n "$ns" xfrm policy flush; done
fi

PSK=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Protected nets of A and B (tunnel mode: the inner subnets; transport mode: the gateways).
NET_A=198.51.100.0/24 NET_B=203.0.113.0/24
# keyfile SIDE EXTRA... -> path. A initiates, B waits, unless EXTRA says otherwise.
keyfile() {
  local side=$1; shift
  local me=$side them addr peer net_me net_them start
  if [ "$side" = a ]; then them=b addr=192.0.2.1 peer=192.0.2.2 net_me=$NET_A net_them=$NET_B start=initiate
  else them=a addr=192.0.2.2 peer=192.0.2.1 net_me=$NET_B net_them=$NET_A start=wait; fi
  local f=$WORK/$me.keys
  {
    echo "local id=fqdn:$me.example listen=$addr:500,$addr:4500 driver=xfrm log-level=debug"
    [[ "$*" == *start=* ]] && start="" || start="start=$start"
    echo "peer $them addr=$peer id=fqdn:$them.example psk=hex:$PSK $start"
    echo "    local-net=$net_me remote-net=$net_them $*"
  } >"$f"
  chmod 600 "$f"
  echo "$f"
}

start_agent() { # ns keyfile log -> pid in $AGENT; each agent its own control socket
  ip netns exec "$1" node "$BUNDLE" run --config "$2" --socket "$WORK/$1.sock" 2>"$3" &
  AGENT=$!
  PIDS+=("$AGENT")
}

wait_log() { # file regex seconds
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.3; done
  return 1
}

stop_agents() { # pids...; SIGTERM, then SIGKILL after 8 s
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do
    for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
}

# SAs with an SPI: the larval SA an ACQUIRE leaves (SPI 0) is the kernel's and expires by itself
sa_count()  { ip -n "$1" xfrm state | grep 'proto esp spi' | grep -vc 'spi 0x00000000'; }
pol_count() { ip -n "$1" xfrm policy | grep -c '^src'; }
# sum of ESP packet counters over the SAs of a namespace
esp_packets() { ip -n "$1" -s xfrm state | awk '/lifetime current:/{getline; for(i=1;i<=NF;i++) if($i ~ /\(packets\)/){sub(/\(packets\).*/,"",$i); s+=$i}} END{print s+0}'; }
spis() { ip -n "$1" xfrm state | awk '/proto esp spi/{print $4}' | sort | tr '\n' ' '; }

# run_case NAME "A-EXTRA" "B-EXTRA" -> agents up with child SAs (or not), logs in $WORK/NAME.{a,b}.log
begin_case() {
  local name=$1
  echo
  echo "=== $name"
  LA=$WORK/$name.a.log LB=$WORK/$name.b.log
  start_agent $B "$(keyfile b "$3")" "$LB"; PB=$AGENT
  wait_log "$LB" 'listening on' 20 || bad "$name: B did not start: $(tail -3 "$LB")"
  start_agent $A "$(keyfile a "$2")" "$LA"; PA=$AGENT
}

end_case() {
  local name=$1
  stop_agents "$PA" "$PB"
  local sa_a sa_b pol_a pol_b
  sa_a=$(sa_count $A); sa_b=$(sa_count $B); pol_a=$(pol_count $A); pol_b=$(pol_count $B)
  if [ "$sa_a$sa_b$pol_a$pol_b" = 0000 ]; then ok "$name: both agents stopped, no SA or policy left in the kernel"
  else bad "$name: left behind: SAs A=$sa_a B=$sa_b, policies A=$pol_a B=$pol_b"; ip -n $A xfrm policy; ip -n $A xfrm state; fi
  if grep -qE '^error:' "$LA" "$LB"; then bad "$name: errors logged:"; grep -hE '^error:' "$LA" "$LB" | head -5
  else ok "$name: no errors logged"; fi
  # flush whatever a failure left, so the next case starts clean
  for ns in $A $B; do ip -n "$ns" xfrm state flush; ip -n "$ns" xfrm policy flush; done
}

dump() { echo "--- A log (last 15)"; tail -15 "$LA"; echo "--- B log (last 15)"; tail -15 "$LB"; }

# 1. AES-GCM-256, tunnel mode, child rekey under a running ping
begin_case gcm-rekey 'esp=aes256gcm16 lifetime=40s rekey-margin=10s' 'esp=aes256gcm16 lifetime=40s rekey-margin=10s'
if wait_log "$LA" 'child SA up' 40 && wait_log "$LB" 'child SA up' 10; then
  ok "gcm-rekey: IKE SA and child SA up, kernel SAs installed (A: $(sa_count $A), B: $(sa_count $B))"
  ip -n $A -s xfrm state | grep -E '^src|proto esp|aead|replay-window|current:|packets\)' | head -12
  first=$(spis $A)
  before=$(esp_packets $A)
  # The initiator rekeys 20 to 30 s after the SA went in (lifetime 40 s, margin 10 s plus up to
  # 10 s of jitter, src/sa/rekey.ts), and the new SA not before 20 s after that. So a 36 s ping
  # begun within a few seconds of the SA spans exactly one rekey, with at least 6 s on the new SAs
  # however late the jitter falls.
  out=$(ip netns exec $A ping -c 72 -i 0.5 -W 2 -I 198.51.100.1 203.0.113.1 2>&1 | tail -2)
  echo "$out"
  rx=$(echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
  if [ "${rx:-0}" -ge 71 ]; then ok "gcm-rekey: ping 198.51.100.1 -> 203.0.113.1 through kernel ESP: ${rx}/72 across the rekey"; else bad "gcm-rekey: ping ${rx:-0}/72"; fi
  after=$(esp_packets $A)
  # The first child's SAs are gone after the rekey: these are the new SAs' own counters, in and
  # out (two packets a ping). 6 s of pings make 24; 12 leaves room for a slow rekey exchange.
  if [ "$after" -ge 12 ]; then ok "gcm-rekey: the rekeyed kernel SAs carry the ping (A: $before packets before, $after on the new SAs)"; else bad "gcm-rekey: counters $before -> $after"; fi
  if grep -q 'child SA rekeyed' "$LA" "$LB"; then ok "gcm-rekey: child SA rekeyed (lifetime 40s, margin 10s)"; else bad "gcm-rekey: no child rekey"; fi
  wait_log "$LA" 'removed \(rekeyed\)|removed \(deleted by peer\)' 10
  now=$(spis $A)
  echo "  SPIs in A before: $first; after: $now"
  common=$(comm -12 <(tr ' ' '\n' <<<"$first" | sort) <(tr ' ' '\n' <<<"$now" | sort) | grep -c .)
  if [ -n "$now" ] && [ "$common" = 0 ]; then ok "gcm-rekey: the kernel SAs were replaced (no SPI of the first child left)"; else bad "gcm-rekey: SPIs before '$first' after '$now'"; fi
  ip -n $A -s xfrm state | grep -E '^src|proto esp|current:|packets\)' | head -12
else
  bad "gcm-rekey: child SA not up"; dump
fi
end_case gcm-rekey

# 2. ChaCha20-Poly1305 with extended sequence numbers
begin_case chacha-esn 'esp=chacha20poly1305-esn' 'esp=chacha20poly1305-esn'
if wait_log "$LA" 'child SA up' 40; then
  st=$(ip -n $B xfrm state)
  if grep -q 'rfc7539esp(chacha20,poly1305)' <<<"$st" && grep -q 'flag.*esn' <<<"$st"; then ok "chacha-esn: kernel SAs are rfc7539esp(chacha20,poly1305) with flag esn"; else bad "chacha-esn: SA flags"; echo "$st"; fi
  if ip netns exec $B ping -c 3 -i 0.3 -W 2 -I 203.0.113.1 198.51.100.1 >/dev/null; then ok "chacha-esn: ping B -> A"; else bad "chacha-esn: ping"; fi
  if [ "$(esp_packets $B)" -ge 6 ]; then ok "chacha-esn: counters in B $(esp_packets $B)"; else bad "chacha-esn: counters $(esp_packets $B)"; fi
else
  bad "chacha-esn: child SA not up"; dump
fi
end_case chacha-esn

# 3. AES-CBC + HMAC-SHA-256 in transport mode between the gateways themselves: the protect
#    policies cover the IKE packets too, which must bypass them.
NET_A=192.0.2.1/32 NET_B=192.0.2.2/32
begin_case cbc-transport 'mode=transport esp=aes128-sha256' 'mode=transport esp=aes128-sha256'
if wait_log "$LA" 'child SA up' 40; then
  st=$(ip -n $A xfrm state)
  if grep -q 'mode transport' <<<"$st" && grep -q 'auth-trunc hmac(sha256)' <<<"$st" && grep -q 'enc cbc(aes)' <<<"$st"; then ok "cbc-transport: transport-mode SAs cbc(aes) + hmac(sha256)/128 in the kernel"; else bad "cbc-transport: SAs"; echo "$st"; fi
  if ip -n $A xfrm policy | grep -q 'sport 500'; then ok "cbc-transport: IKE bypass policies in place"; else bad "cbc-transport: no bypass policy"; fi
  before=$(esp_packets $A)
  if ip netns exec $A ping -c 4 -i 0.3 -W 2 192.0.2.2 >/dev/null; then ok "cbc-transport: ping 192.0.2.1 -> 192.0.2.2"; else bad "cbc-transport: ping"; fi
  after=$(esp_packets $A)
  if [ "$after" -ge $((before + 8)) ]; then ok "cbc-transport: the ping went through ESP (A counters $before -> $after)"; else bad "cbc-transport: counters $before -> $after"; fi
else
  bad "cbc-transport: child SA not up"; dump
fi
end_case cbc-transport
NET_A=198.51.100.0/24 NET_B=203.0.113.0/24

# 4. start=on-traffic: no SA until a packet hits the policy; the kernel's ACQUIRE starts IKE.
begin_case on-traffic 'start=on-traffic esp=aes128gcm16' 'esp=aes128gcm16'
wait_log "$LA" 'listening on' 20
sleep 1
if [ "$(sa_count $A)" = 0 ]; then ok "on-traffic: no SA before traffic"; else bad "on-traffic: SAs before traffic: $(sa_count $A)"; fi
# The kernel drops packets while no SA exists (larval state); the first answers come once IKE is done.
out=$(ip netns exec $A ping -c 20 -i 0.5 -W 2 -I 198.51.100.1 203.0.113.1 2>&1 | tail -2)
echo "$out"
if grep -q 'acquire for reqid' "$LA"; then ok "on-traffic: the kernel's ACQUIRE reached keyline"; else bad "on-traffic: no acquire logged"; fi
if grep -q 'child SA up' "$LA"; then ok "on-traffic: child SA up after the first packet"; else bad "on-traffic: no child SA"; dump; fi
rx=$(echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
if [ "${rx:-0}" -ge 1 ]; then ok "on-traffic: ${rx}/20 of the first pings answered (the rest fell before the SA)"; else bad "on-traffic: ${rx:-0}/20 answered"; fi
out=$(ip netns exec $A ping -c 3 -i 0.3 -W 2 -I 198.51.100.1 203.0.113.1 2>&1 | tail -2)
if grep -q ' 3 received' <<<"$out"; then ok "on-traffic: then every ping answered"; else bad "on-traffic: after set-up: $out"; fi
end_case on-traffic

echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
