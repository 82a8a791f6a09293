#!/bin/sh
# Make the mesh's certificates for docker-compose.yml and Kubernetes (docs/reference.md §14,
# "Mesh"): a CA, and one certificate signed by it that the router and every resolver present
# (serverAuth and clientAuth) for the names clients dial: each resolver Service, localhost and
# 127.0.0.1 (the health probes). Writes ca.crt, tls.crt, tls.key (and ca.key, kept to sign more)
# into the folder given (default: this script's folder; git-ignored). Then, for Kubernetes:
#   kubectl -n dbmesh create secret generic dbmesh-mesh-tls \
#     --from-file=tls.crt --from-file=tls.key --from-file=ca.crt
set -eu
out="${1:-$(dirname "$0")}"
days="${DAYS:-365}"
mkdir -p "$out"
cd "$out"
names="DNS:resolver-postgres-primary,DNS:resolver-mysql-historical,DNS:resolver-sqlite-cache"
names="$names,DNS:router,DNS:localhost,IP:127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=dbmesh mesh CA" -keyout ca.key -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dbmesh mesh" \
  -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n' "$names" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -extfile tls.ext \
  -out tls.crt 2>/dev/null
rm -f tls.csr tls.ext ca.srl
# Compose bind-mounts these files as they are, and the containers run as user 10001.
chmod 0644 tls.key
chmod 0600 ca.key
echo "wrote $(pwd)/ca.crt, tls.crt, tls.key (subjectAltName $names)"
