#!/bin/sh
# Turn HTTPS on (port 443) when a certificate and its key are mounted, otherwise leave it off.
set -eu
cert="${NGINX_TLS_CERT:-/etc/nginx/certs/tls.crt}"
key="${NGINX_TLS_KEY:-/etc/nginx/certs/tls.key}"
site=/etc/nginx/conf.d/gptoss-tls.conf
if [ -f "$cert" ] && [ -f "$key" ]; then
    sed -e "s|@TLS_CERT@|$cert|" -e "s|@TLS_KEY@|$key|" /etc/nginx/gptoss/tls.conf.in >"$site"
    echo "$0: HTTPS on port 443 with $cert"
else
    rm -f "$site"
    echo "$0: HTTPS off (mount $cert and $key to turn it on)"
fi
