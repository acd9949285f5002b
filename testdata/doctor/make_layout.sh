#!/usr/bin/env bash
# A kubeadm-like control-plane node layout for `etcd-rescue doctor`, in a
# directory that stands for `/`:
#
#   bash testdata/doctor/make_layout.sh ROOT              # the healthy layout
#   bash testdata/doctor/make_layout.sh --plant CASE ROOT # plant one problem in a layout made before
#
# The healthy layout:
#   ROOT/etc/kubernetes/manifests/etcd.yaml   the static pod kubeadm writes (command list, volumeMounts
#                                             etcd-data and etcd-certs, hostPath volumes)
#   ROOT/etc/kubernetes/pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key}
#   ROOT/etc/kubernetes/pki/apiserver-etcd-client.{crt,key}
#   ROOT/var/lib/etcd                         a real etcd 3.4 data dir
# Certificates are made with openssl with the subjects, SANs, key usages and
# extended key usages kubeadm gives them (RSA 2048 PKCS#1 keys like kubeadm's; the
# healthcheck client has an EC P-256 SEC1 key and the apiserver client a PKCS#8
# key, so every key form is exercised). The data dir is written by real etcd 3.4
# (/usr/bin/etcd) started with exactly the manifest's flags (TLS on loopback,
# client-cert-auth), a few keys put through etcdctl with the apiserver's client
# certificate, then stopped. The node's IP is 127.0.0.2 (NODE_IP) so that it
# differs from the 127.0.0.1 kubeadm also listens on; ports are free ones picked
# at run time. ROOT/layout.env records name, IP and ports.
#
# Cases for --plant (each one problem, as found on broken nodes):
#   expired          server.crt expired (2024-01-01 .. 2025-01-01)
#   expiring         peer.crt expires in 10 days
#   wrong-san        server.crt lacks the node IP (only localhost, 127.0.0.1, ::1)
#   key-mismatch     server.key is another key
#   other-ca         peer.crt signed by another CA
#   wrong-eku        peer.crt has serverAuth only (no clientAuth)
#   client-other-ca  apiserver-etcd-client.crt signed by another CA
#   bad-pem          server.crt is not PEM
#   name-mismatch    the manifest's --name (and --initial-cluster) is cp-2
#   peer-url         the manifest advertises the peer URL on 127.0.0.3
#   foreign-data     the manifest is for a joining member cp-2 (state existing) but the data dir is cp-1's
#   existing-empty   --initial-cluster-state=existing and an empty data dir
#   new-grown        --initial-cluster-state=new listing cp-2 too, on the single-member data dir
#   quota            --quota-backend-bytes=16384, below the db's size
#   nospace          the db holds a NOSPACE alarm (etcd run with a tiny quota until it raised it)
#   defrag-leftover  member/snap/db.tmp.123 left by an interrupted defrag
#   damaged-db       member/snap/db cut just before the page the newest meta names as the root
#                    (a fixed cut such as 16 KiB is not enough: a small db's whole tree can sit
#                    in its first pages, and etcd then starts on it)
set -euo pipefail

for t in openssl etcd etcdctl python3; do
  command -v "$t" >/dev/null || { echo "make_layout.sh: $t not found (apt-get install openssl etcd-server etcd-client)" >&2; exit 2; }
done

plant=""
if [ "${1:-}" = "--plant" ]; then plant="$2"; shift 2; fi
root="${1:?usage: make_layout.sh [--plant CASE] ROOT}"
mkdir -p "$root"
root="$(cd "$root" && pwd)"
pki="$root/etc/kubernetes/pki"
epki="$pki/etcd"
manifest="$root/etc/kubernetes/manifests/etcd.yaml"
data="$root/var/lib/etcd"
work="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# key FILE [rsa|ec|pkcs8]
key() {
  case "${2:-rsa}" in
    rsa) openssl genrsa -traditional -out "$1" 2048 2>/dev/null ;;
    pkcs8) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
    ec) openssl ecparam -name prime256v1 -genkey -noout -out "$1" ;;
  esac
}

# ext FILE EKU [SANS]: kubeadm's extensions for a leaf certificate.
ext() {
  {
    echo "[v3]"
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = $2"
    echo "authorityKeyIdentifier = keyid"
    if [ -n "${3:-}" ]; then echo "subjectAltName = $3"; fi
  } >"$1"
}

# ca CRT KEY CN
ca() {
  key "$2"
  openssl req -x509 -new -key "$2" -out "$1" -subj "/CN=$3" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" 2>/dev/null
}

# leaf CRT KEY SUBJ EKU SANS CACRT CAKEY [DAYS|STARTDATE:ENDDATE]
leaf() {
  local crt="$1" k="$2" subj="$3" eku="$4" sans="$5" cacrt="$6" cakey="$7" when="${8:-365}"
  [ -f "$k" ] || key "$k"
  openssl req -new -key "$k" -subj "$subj" -out "$work/req.csr" 2>/dev/null
  ext "$work/ext.cnf" "$eku" "$sans"
  if [[ "$when" == *:* ]]; then
    # Dates in the past: openssl ca sets them explicitly.
    local d="$work/ca.$RANDOM"
    mkdir -p "$d/new"
    : >"$d/index.txt"
    cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
dir = $d
database = $d/index.txt
new_certs_dir = $d/new
serial = $d/serial
default_md = sha256
policy = p
copy_extensions = none
[p]
commonName = supplied
organizationName = optional
EOF
    openssl rand -hex 8 >"$d/serial"
    openssl ca -batch -config "$d/ca.cnf" -cert "$cacrt" -keyfile "$cakey" -in "$work/req.csr" -out "$crt" \
      -startdate "${when%%:*}" -enddate "${when##*:}" -extfile "$work/ext.cnf" -extensions v3 -notext 2>/dev/null
  else
    openssl x509 -req -in "$work/req.csr" -CA "$cacrt" -CAkey "$cakey" -set_serial "0x$(openssl rand -hex 8)" \
      -days "$when" -sha256 -extfile "$work/ext.cnf" -extensions v3 -out "$crt" 2>/dev/null
  fi
}

load_env() { # shellcheck disable=SC1091
  source "$root/layout.env"
  node_sans="DNS:$NODE_NAME, DNS:localhost, IP:$NODE_IP, IP:127.0.0.1, IP:0:0:0:0:0:0:0:1"
}

write_manifest() { # NAME PEER_IP INITIAL_CLUSTER [EXTRA_FLAG...]
  local name="$1" pip="$2" ic="$3"
  shift 3
  {
    cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://$NODE_IP:$CLIENT_PORT
  creationTimestamp: null
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://$NODE_IP:$CLIENT_PORT
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --client-cert-auth=true
    - --data-dir=/var/lib/etcd
    - --experimental-initial-corrupt-check=true
    - --experimental-watch-progress-notify-interval=5s
    - --initial-advertise-peer-urls=https://$pip:$PEER_PORT
    - --initial-cluster=$ic
EOF
    for f in "$@"; do echo "    - $f"; done
    cat <<EOF
    - --key-file=/etc/kubernetes/pki/etcd/server.key
    - --listen-client-urls=https://127.0.0.1:$CLIENT_PORT,https://$NODE_IP:$CLIENT_PORT
    - --listen-metrics-urls=http://127.0.0.1:$METRICS_PORT
    - --listen-peer-urls=https://$NODE_IP:$PEER_PORT
    - --name=$name
    - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
    - --peer-client-cert-auth=true
    - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    - --snapshot-count=10000
    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    image: registry.k8s.io/etcd:3.5.15-0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 127.0.0.1
        path: /health?exclude=NOSPACE&serializable=true
        port: $METRICS_PORT
        scheme: HTTP
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: etcd
    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki/etcd
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
status: {}
EOF
  } >"$manifest"
}

# Run etcd on DATA with the layout's flags (host paths) plus EXTRA; sets pid.
start_etcd() { # DATA [EXTRA...]
  local d="$1"
  shift
  etcd --name "$NODE_NAME" --data-dir "$d" \
    --advertise-client-urls "https://$NODE_IP:$CLIENT_PORT" \
    --listen-client-urls "https://127.0.0.1:$CLIENT_PORT,https://$NODE_IP:$CLIENT_PORT" \
    --listen-metrics-urls "http://127.0.0.1:$METRICS_PORT" \
    --listen-peer-urls "https://$NODE_IP:$PEER_PORT" \
    --initial-advertise-peer-urls "https://$NODE_IP:$PEER_PORT" \
    --initial-cluster "$NODE_NAME=https://$NODE_IP:$PEER_PORT" \
    --cert-file "$epki/server.crt" --key-file "$epki/server.key" --client-cert-auth=true \
    --trusted-ca-file "$epki/ca.crt" \
    --peer-cert-file "$epki/peer.crt" --peer-key-file "$epki/peer.key" --peer-client-cert-auth=true \
    --peer-trusted-ca-file "$epki/ca.crt" --snapshot-count=10000 "$@" >"$work/etcd.log" 2>&1 &
  pid=$!
}

ctl() {
  ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$CLIENT_PORT" --dial-timeout 2s \
    --cacert "$epki/ca.crt" --cert "$pki/apiserver-etcd-client.crt" --key "$pki/apiserver-etcd-client.key" "$@"
}

wait_healthy() {
  for _ in $(seq 1 100); do
    if ctl endpoint health >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "make_layout.sh: etcd did not serve; its log:" >&2
  cat "$work/etcd.log" >&2
  exit 1
}

stop_etcd() {
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

healthy() {
  mkdir -p "$epki" "$(dirname "$manifest")" "$data"
  chmod 700 "$data"
  cat >"$root/layout.env" <<EOF
NODE_NAME=${NODE_NAME:-cp-1}
NODE_IP=${NODE_IP:-127.0.0.2}
CLIENT_PORT=$(free_port)
PEER_PORT=$(free_port)
METRICS_PORT=$(free_port)
EOF
  load_env
  ca "$epki/ca.crt" "$epki/ca.key" etcd-ca
  leaf "$epki/server.crt" "$epki/server.key" "/CN=$NODE_NAME" "serverAuth, clientAuth" "$node_sans" "$epki/ca.crt" "$epki/ca.key"
  leaf "$epki/peer.crt" "$epki/peer.key" "/CN=$NODE_NAME" "serverAuth, clientAuth" "$node_sans" "$epki/ca.crt" "$epki/ca.key"
  key "$epki/healthcheck-client.key" ec
  leaf "$epki/healthcheck-client.crt" "$epki/healthcheck-client.key" "/CN=kube-etcd-healthcheck-client" "clientAuth" "" "$epki/ca.crt" "$epki/ca.key"
  key "$pki/apiserver-etcd-client.key" pkcs8
  leaf "$pki/apiserver-etcd-client.crt" "$pki/apiserver-etcd-client.key" "/O=system:masters/CN=kube-apiserver-etcd-client" "clientAuth" "" "$epki/ca.crt" "$epki/ca.key"
  chmod 600 "$epki"/*.key "$pki"/*.key
  write_manifest "$NODE_NAME" "$NODE_IP" "$NODE_NAME=https://$NODE_IP:$PEER_PORT"
  start_etcd "$data"
  wait_healthy
  for i in $(seq 1 20); do ctl put "/registry/configmaps/default/cm-$i" "value $i" >/dev/null; done
  ctl put /registry/namespaces/default '{"kind":"Namespace"}' >/dev/null
  ctl del /registry/configmaps/default/cm-1 >/dev/null
  stop_etcd
  # Trim the preallocated zeros of the WAL (64 MB each) to keep copies cheap;
  # etcd reads a trimmed segment exactly as the original.
  for f in "$data"/member/wal/*.wal; do
    python3 - "$f" <<'EOF'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
n = len(b.rstrip(b"\0"))
n = (n + 7) // 8 * 8
open(p, "r+b").truncate(n)
EOF
  done
  rm -f "$data"/member/wal/*.tmp
}

plant_case() {
  load_env
  local ic="$NODE_NAME=https://$NODE_IP:$PEER_PORT"
  case "$1" in
    expired)
      rm -f "$epki/server.crt"
      leaf "$epki/server.crt" "$epki/server.key" "/CN=$NODE_NAME" "serverAuth, clientAuth" "$node_sans" "$epki/ca.crt" "$epki/ca.key" 20240101000000Z:20250101000000Z ;;
    expiring)
      leaf "$epki/peer.crt" "$epki/peer.key" "/CN=$NODE_NAME" "serverAuth, clientAuth" "$node_sans" "$epki/ca.crt" "$epki/ca.key" 10 ;;
    wrong-san)
      leaf "$epki/server.crt" "$epki/server.key" "/CN=$NODE_NAME" "serverAuth, clientAuth" "DNS:localhost, IP:127.0.0.1, IP:0:0:0:0:0:0:0:1" "$epki/ca.crt" "$epki/ca.key" ;;
    key-mismatch)
      key "$epki/server.key" ;;
    other-ca)
      ca "$work/other-ca.crt" "$work/other-ca.key" etcd-ca
      leaf "$epki/peer.crt" "$epki/peer.key" "/CN=$NODE_NAME" "serverAuth, clientAuth" "$node_sans" "$work/other-ca.crt" "$work/other-ca.key" ;;
    wrong-eku)
      leaf "$epki/peer.crt" "$epki/peer.key" "/CN=$NODE_NAME" "serverAuth" "$node_sans" "$epki/ca.crt" "$epki/ca.key" ;;
    client-other-ca)
      ca "$work/other-ca.crt" "$work/other-ca.key" etcd-ca
      leaf "$pki/apiserver-etcd-client.crt" "$pki/apiserver-etcd-client.key" "/O=system:masters/CN=kube-apiserver-etcd-client" "clientAuth" "" "$work/other-ca.crt" "$work/other-ca.key" ;;
    bad-pem)
      echo "this is not a certificate" >"$epki/server.crt" ;;
    name-mismatch)
      write_manifest cp-2 "$NODE_IP" "cp-2=https://$NODE_IP:$PEER_PORT" ;;
    peer-url)
      write_manifest "$NODE_NAME" 127.0.0.3 "$NODE_NAME=https://127.0.0.3:$PEER_PORT" ;;
    foreign-data)
      write_manifest cp-2 127.0.0.3 "$ic,cp-2=https://127.0.0.3:$PEER_PORT" --initial-cluster-state=existing ;;
    existing-empty)
      rm -rf "${data:?}"/member
      write_manifest "$NODE_NAME" "$NODE_IP" "$ic" --initial-cluster-state=existing ;;
    new-grown)
      write_manifest "$NODE_NAME" "$NODE_IP" "$ic,cp-2=https://127.0.0.3:$PEER_PORT" --initial-cluster-state=new ;;
    quota)
      write_manifest "$NODE_NAME" "$NODE_IP" "$ic" --quota-backend-bytes=16384 ;;
    nospace)
      start_etcd "$data" --quota-backend-bytes=1048576
      wait_healthy
      local blob="$work/blob"
      head -c 300000 /dev/urandom | base64 -w0 >"$blob"
      for i in $(seq 1 20); do
        ctl put "/registry/blob/$i" <"$blob" >/dev/null 2>&1 || break
      done
      ctl alarm list | grep -q NOSPACE || { echo "make_layout.sh: no NOSPACE alarm raised" >&2; exit 1; }
      stop_etcd ;;
    defrag-leftover)
      head -c 65536 /dev/zero >"$data/member/snap/db.tmp.123" ;;
    damaged-db)
      root_at="$(python3 - "$data/member/snap/db" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    head = f.read(8192)
best = None
for off in (0, 4096):
    # page header (id, flags, count, overflow) then the meta: magic, version,
    # page size, flags, root bucket (root page, sequence), freelist, pgid, txid
    magic, _ver, psize, _fl, root = struct.unpack_from("<IIIIQ", head, off + 16)
    txid = struct.unpack_from("<Q", head, off + 16 + 48)[0]
    if magic == 0xED0CDAED and (best is None or txid > best[0]):
        best = (txid, root * psize)
print(best[1])
PY
)"
      truncate -s "$root_at" "$data/member/snap/db" ;;
    *)
      echo "make_layout.sh: unknown case $1" >&2
      exit 2 ;;
  esac
}

if [ -n "$plant" ]; then
  plant_case "$plant"
else
  healthy
fi
