#!/usr/bin/env bash
# Throwaway certificates for local TLS clusters and tests (docs/security.md,
# "TLS"): a CA and, for each NAME, a key and a certificate it signs that is
# valid for 127.0.0.1, ::1 and localhost as server and as client (nodes
# use one certificate on both sides of the peer port).
#
#   scripts/tls-certs.sh DIR [NAME...]     (default names: node1 node2 node3 client)
#   scripts/tls-certs.sh --test DIR        also other-ca.pem with other.{pem,key}
#                                          (a CA nobody trusts) and expired.{pem,key}
#                                          (signed by the CA, expired in 2020)
#
# Never for production: the CA key sits next to the certificates.
set -euo pipefail

test_extras=0
if [[ "${1:-}" == "--test" ]]; then
        test_extras=1
        shift
fi
dir=${1:?usage: tls-certs.sh [--test] DIR [NAME...]}
shift
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(node1 node2 node3 client)

mkdir -p "$dir"
cd "$dir"
umask 077

ext=$(mktemp)
trap 'rm -f "$ext"' EXIT
cat >"$ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
EXT

# ca NAME: a self-signed CA named NAME (NAME.pem, NAME.key).
ca() {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
                -subj "/CN=tunekv test $1" -keyout "$1.key" -out "$1.pem" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CA [DAYS]: NAME.{key,pem} signed by CA.{key,pem}.
leaf() {
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
                -keyout "$1.key" -out "$1.csr" 2>/dev/null
        openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
                -days "${3:-825}" -extfile "$ext" -out "$1.pem" 2>/dev/null
        rm -f "$1.csr"
}

[[ -f ca.pem ]] || ca ca
for n in "${names[@]}"; do
        leaf "$n" ca
done
if [[ $test_extras == 1 ]]; then
        ca other-ca
        leaf other other-ca
        # Issued 2020-01-01 for one day: libfaketime moves openssl's clock.
        faketime '2020-01-01 00:00:00' bash -c "$(declare -f leaf); ext=$ext; leaf expired ca 1"
fi
chmod 644 ./*.pem
