#!/bin/sh
# Makes a development CA and a serving certificate signed by it, with openssl only (no Node).
# The same files as `stsguard certs`:
#   ca.crt   CA certificate (its base64 is a webhook's clientConfig.caBundle)
#   tls.crt  serving certificate for localhost, 127.0.0.1 and, if given, the Service's names
#   tls.key  its private key (PKCS#8, mode 0600) - git-ignored, never commit it
# The CA's own key is discarded, so nothing else can ever be signed with this CA.
#
# Usage: sh certs/make-dev-certs.sh [SERVICE [NAMESPACE]]
#   SERVICE            adds DNS:<svc>
#   SERVICE NAMESPACE  adds <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local
# Environment: CERTS_DIR (default: this script's directory), DAYS (default 365),
#              CLUSTER_DOMAIN (default cluster.local).
set -eu

usage() {
  sed -n '9,13p' "$0" | sed 's/^# \{0,1\}//'
}

# Runs an openssl step quietly; shows its output only if it fails.
quietly() {
  if ! log=$("$@" 2>&1); then
    printf '%s\n' "$log" >&2
    echo "make-dev-certs: failed: $*" >&2
    exit 1
  fi
}

is_dns_label() {
  case $1 in
    '' | -* | *- | *[!a-z0-9-]*) return 1 ;;
  esac
  [ "${#1}" -le 63 ]
}

case ${1-} in -h | --help) usage; exit 0 ;; esac
[ "$#" -le 2 ] || { usage >&2; exit 2; }

service=${1-}
namespace=${2-}
days=${DAYS:-365}
cluster_domain=${CLUSTER_DOMAIN:-cluster.local}
out=${CERTS_DIR:-$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)}

for name in "$service" "$namespace"; do
  if [ -n "$name" ] && ! is_dns_label "$name"; then
    echo "make-dev-certs: \"$name\" is not a valid Kubernetes name (lower-case RFC 1123 label)" >&2
    exit 2
  fi
done
case $days in '' | *[!0-9]*) echo "make-dev-certs: DAYS must be a whole number" >&2; exit 2 ;; esac
command -v openssl >/dev/null 2>&1 || { echo "make-dev-certs: openssl not found" >&2; exit 2; }

sans="DNS:localhost, IP:127.0.0.1"
if [ -n "$service" ]; then
  sans="$sans, DNS:$service"
fi
if [ -n "$namespace" ]; then
  sans="$sans, DNS:$service.$namespace, DNS:$service.$namespace.svc"
  sans="$sans, DNS:$service.$namespace.svc.$cluster_domain"
fi

mkdir -p -- "$out"
# Work next to the destination so the final mv is an atomic rename on the same filesystem.
umask 077
work=$(mktemp -d "$out/.make-dev-certs.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM

cat >"$work/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# ECDSA P-256: supported by kube-apiserver, Go and Node, and much faster than RSA.
quietly openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key"
quietly openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/tls.key"

quietly openssl req -x509 -new -sha256 -days "$days" -key "$work/ca.key" \
  -subj "/O=stsguard/CN=stsguard development CA" \
  -config "$work/openssl.cnf" -extensions v3_ca -out "$work/ca.crt"

quietly openssl req -new -key "$work/tls.key" -subj "/CN=${service:-localhost}" \
  -config "$work/openssl.cnf" -out "$work/tls.csr"

quietly openssl x509 -req -sha256 -days "$days" -in "$work/tls.csr" \
  -CA "$work/ca.crt" -CAkey "$work/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
  -extfile "$work/openssl.cnf" -extensions v3_leaf -out "$work/tls.crt"

quietly openssl verify -CAfile "$work/ca.crt" "$work/tls.crt"

chmod 600 "$work/tls.key"
chmod 644 "$work/ca.crt" "$work/tls.crt"
mv -f -- "$work/tls.key" "$out/tls.key"
mv -f -- "$work/tls.crt" "$out/tls.crt"
mv -f -- "$work/ca.crt" "$out/ca.crt"

echo "Wrote development certificates for $sans"
echo "  CA:          $out/ca.crt"
echo "  certificate: $out/tls.crt"
echo "  key:         $out/tls.key  (secret; git-ignored, never commit it)"
echo
echo "Webhook configuration clientConfig:"
echo "caBundle: $(openssl base64 -A -in "$out/ca.crt")"
