#!/usr/bin/env bash
# A real Kubernetes control plane for the tests: etcd, kube-apiserver and
# kube-controller-manager (garbage collection, namespace deletion), built by
# scripts/build-control-plane.sh, on free 127.0.0.1 ports.
#
#   bash scripts/control-plane.sh start DIR   # returns once /readyz answers; writes DIR/kubeconfig
#   bash scripts/control-plane.sh stop DIR    # stops what `start DIR` started
#
# The API server authorizes with RBAC only, signs ServiceAccount tokens (so `kubectl create
# token` works) and serves a self-signed certificate; DIR/kubeconfig holds a client
# certificate in system:masters (cluster-admin). Logs are DIR/*.log.
# Env: CONTROL_PLANE_BIN (default .tools/bin), CONTROL_PLANE_TIMEOUT (seconds, default 60).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CONTROL_PLANE_BIN:-$ROOT/.tools/bin}"
TIMEOUT="${CONTROL_PLANE_TIMEOUT:-60}"

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd="$1"
mkdir -p "$2"
DIR="$(cd "$2" && pwd)"

b64() { base64 -w0 <"$1"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  # Reverse start order: the controller manager and the API server before their store.
  for name in kube-controller-manager kube-apiserver etcd; do
    pidfile="$DIR/$name.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

# A CA, the serving certificate, an admin client certificate and the token signing key.
# openssl's chatter goes to DIR/pki/openssl.log.
certs() (
  mkdir -p "$DIR/pki"
  cd "$DIR/pki"
  exec 2>openssl.log
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=aurora-restore-test-ca" \
    -keyout ca.key -out ca.crt
  # Serving certificate for 127.0.0.1 and the in-cluster names.
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
    "extendedKeyUsage=serverAuth" >serving.ext
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout serving.key -out serving.csr
  openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile serving.ext -out serving.crt
  # Client certificate in system:masters: cluster-admin through RBAC's bootstrap binding.
  printf '%s\n' "extendedKeyUsage=clientAuth" >client.ext
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=aurora-restore-test-admin" \
    -keyout admin.key -out admin.csr
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile client.ext -out admin.crt
  # ServiceAccount token signing key pair.
  openssl genrsa -out sa.key 2048
  openssl rsa -in sa.key -pubout -out sa.pub
)

kubeconfig() {
  local port="$1"
  cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: control-plane
    cluster:
      server: https://127.0.0.1:$port
      certificate-authority-data: $(b64 "$DIR/pki/ca.crt")
users:
  - name: admin
    user:
      client-certificate-data: $(b64 "$DIR/pki/admin.crt")
      client-key-data: $(b64 "$DIR/pki/admin.key")
contexts:
  - name: admin
    context: {cluster: control-plane, user: admin}
current-context: admin
EOF
  chmod 600 "$DIR/kubeconfig"
}

launch() {
  local name="$1"
  shift
  nohup "$BIN/$name" "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

start() {
  for b in etcd kube-apiserver kube-controller-manager; do
    if [ ! -x "$BIN/$b" ]; then
      echo "control-plane: $BIN/$b is missing; build it with: bash scripts/build-control-plane.sh" >&2
      exit 1
    fi
  done
  stop
  rm -rf "$DIR/etcd-data" "$DIR/pki"
  certs || true
  for f in ca.crt serving.crt admin.crt sa.key sa.pub; do
    if [ ! -s "$DIR/pki/$f" ]; then
      echo "control-plane: openssl could not make $f; see $DIR/pki/openssl.log" >&2
      exit 1
    fi
  done
  local etcd_client etcd_peer api_port
  etcd_client="$(free_port)"
  etcd_peer="$(free_port)"
  api_port="$(free_port)"

  # A throwaway store: no fsync (the data dies with the test run).
  launch etcd --name=test --data-dir="$DIR/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_client" \
    --advertise-client-urls="http://127.0.0.1:$etcd_client" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="test=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync --log-level=warn

  launch kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_client" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$DIR/pki/serving.crt" --tls-private-key-file="$DIR/pki/serving.key" \
    --client-ca-file="$DIR/pki/ca.crt" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/pki/sa.pub" \
    --service-account-signing-key-file="$DIR/pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --cert-dir="$DIR/pki" \
    --allow-privileged=true

  kubeconfig "$api_port"
  local deadline=$((SECONDS + TIMEOUT))
  until curl -fsS --max-time 2 --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" \
      --key "$DIR/pki/admin.key" "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; do
    for name in etcd kube-apiserver; do
      if ! kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null; then
        echo "control-plane: $name exited; last lines of $DIR/$name.log:" >&2
        tail -n 20 "$DIR/$name.log" >&2
        stop
        exit 1
      fi
    done
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "control-plane: /readyz did not answer within ${TIMEOUT}s; see $DIR/kube-apiserver.log" >&2
      tail -n 20 "$DIR/kube-apiserver.log" >&2
      stop
      exit 1
    fi
    sleep 0.5
  done

  # Garbage collection (owner references) and namespace deletion; no serving port needed.
  launch kube-controller-manager \
    --kubeconfig="$DIR/kubeconfig" \
    --controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller \
    --leader-elect=false --secure-port=0 \
    --service-account-private-key-file="$DIR/pki/sa.key" --root-ca-file="$DIR/pki/ca.crt"

  echo "$api_port" >"$DIR/port"
  echo "control-plane: ready at https://127.0.0.1:$api_port (KUBECONFIG=$DIR/kubeconfig)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
