#!/bin/sh
# Render METRICS_ALLOW (CIDRs or addresses, separated by spaces or commas; `all` for anyone) into the
# allow list of /metrics. Anything else is denied. An invalid entry stops the container, loudly.
set -eu
out=/etc/nginx/conf.d/gptoss-metrics-allow.inc
tmp="$out.tmp"
: >"$tmp"
for entry in $(printf '%s' "${METRICS_ALLOW:-}" | tr ',' ' '); do
    case "$entry" in
        all) ;;
        *[!0-9A-Fa-f.:/]* | "")
            echo "$0: METRICS_ALLOW entry '$entry' is not an address or CIDR (e.g. 10.0.0.0/8)" >&2
            rm -f "$tmp"
            exit 1
            ;;
    esac
    echo "allow $entry;" >>"$tmp"
done
echo "deny all;" >>"$tmp"
mv "$tmp" "$out"
echo "$0: /metrics allowed from: ${METRICS_ALLOW:-nobody}"
