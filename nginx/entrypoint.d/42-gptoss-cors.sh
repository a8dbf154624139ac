#!/bin/sh
# Render GATEWAY_CORS_ORIGINS (the gateway's setting: origins separated by commas or spaces, `*` for
# any) into the map of the origins whose pages may read the errors nginx answers itself (413, 502,
# 504, ...); the gateway adds the same headers to its own answers (gptoss/cors.conf). Empty: CORS
# off. An invalid entry stops the container, loudly.
set -euf  # -f: a `*` entry is an origin, not a file pattern
out=/etc/nginx/conf.d/gptoss-cors-origins.inc
tmp="$out.tmp"
printf '%s\n' "# Rendered at start by $0 from GATEWAY_CORS_ORIGINS." \
    'map $http_origin $gptoss_cors_origin {' '    default "";' >"$tmp"
for entry in $(printf '%s' "${GATEWAY_CORS_ORIGINS:-}" | tr ',' ' ' | tr 'A-Z' 'a-z'); do
    entry="${entry%/}"
    case "$entry" in
        '*') echo '    "~." "*";' >>"$tmp"; continue ;;
        *[!a-z0-9.:/+\[\]-]* | *://*/* | *://) ;;
        [a-z]*://*)
            case "$entry" in
                http://*:80) entry="${entry%:80}" ;;
                https://*:443) entry="${entry%:443}" ;;
            esac
            echo "    \"$entry\" \$http_origin;" >>"$tmp"
            continue
            ;;
    esac
    echo "$0: GATEWAY_CORS_ORIGINS entry '$entry' is not an origin: write scheme://host[:port] with no path (or * for any)" >&2
    rm -f "$tmp"
    exit 1
done
echo '}' >>"$tmp"
mv "$tmp" "$out"
echo "$0: cross-origin pages allowed from: ${GATEWAY_CORS_ORIGINS:-none (CORS off)}"
