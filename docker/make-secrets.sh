#!/bin/sh
# Create docker/secrets/: three independent random keys, a database password and a
# self-signed TLS pair for trying the stack on localhost. Never commit this folder.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
for name in flask_secret watermark_key kek db_password; do
    [ -s "secrets/$name" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "secrets/$name"
done
if [ ! -s secrets/tls.key ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=localhost" \
        -keyout secrets/tls.key -out secrets/tls.crt 2>/dev/null
fi
echo "secrets written to $(pwd)/secrets"
