#!/usr/bin/env bash
# Generates a test CA, a server certificate for localhost/127.0.0.1 and a
# client certificate with CN=$2 in directory $1 (PEM files), for the TLS tests
# of tests/python (.ci/run starts the broker with them).
set -euo pipefail
dir=$1; cn=${2:-guest}
mkdir -p "$dir"; cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Warren CI CA" \
    -keyout ca_key.pem -out ca_certificate.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout server_key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca_certificate.pem -CAkey ca_key.pem -CAcreateserial \
    -days 2 -extfile server.ext -out server_certificate.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn/O=client" \
    -keyout client_key.pem -out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca_certificate.pem -CAkey ca_key.pem -CAcreateserial \
    -days 2 -extfile client.ext -out client_certificate.pem 2>/dev/null
