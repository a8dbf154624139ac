#!/usr/bin/env bash
# Build the stand-ins for the official base images (python, nginx, redis) from Debian packages,
# because no container registry is reachable here. The Debian base comes from debootstrap, using the
# mirror this host's apt already uses (never a hard-coded host). Warm runs are fast: the base is
# skipped when present and the stand-ins rebuild from the layer cache.
# Prints nothing on stdout; the tags are in .ci/stand-ins.env.
set -euo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"

BASE_TAG="$STAND_IN_PREFIX/debian:$DEBIAN_SUITE"

# The first Debian archive URI in the host's apt sources (deb822 *.sources or one-line *.list).
debian_mirror() {
    local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list)
    local existing=()
    local f
    for f in "${files[@]}"; do [[ -f $f ]] && existing+=("$f"); done
    ((${#existing[@]})) || return 1
    {
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "${existing[@]}"
        awk '/^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "${existing[@]}"
    } | sed 's:/*$::' | grep -E '/debian$' | head -n 1
}

build_base() {
    if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
        log "base image $BASE_TAG: present"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap not found: run .ci/install-packages.sh first"
    local mirror rootfs
    mirror="$(debian_mirror)" || true
    [[ -n $mirror ]] || die "no Debian mirror (a URI ending in /debian) found in /etc/apt/sources*"
    rootfs="$(mktemp -d /var/tmp/gptoss-rootfs.XXXXXX)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "rm -rf '$rootfs'" RETURN
    log "base image $BASE_TAG: debootstrap $DEBIAN_SUITE from $mirror"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || die "debootstrap failed; last lines: $(tail -n 20 "$rootfs.log")"
    rm -f "$rootfs.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$BASE_TAG" >/dev/null
    log "base image $BASE_TAG: imported"
}

build_stand_in() {
    local name=$1 tag=$2
    log "stand-in $tag: building"
    local output
    output="$(docker build --build-arg "BASE_IMAGE=$BASE_TAG" -t "$tag" "$CI_DIR/stand-ins/$name" 2>&1)" \
        || die "building $tag failed: $(tail -n 30 <<<"$output")"
}

build_base
# shellcheck source=.ci/stand-ins.env
. "$CI_DIR/stand-ins.env"
build_stand_in python "$PYTHON_IMAGE"
build_stand_in nginx "$NGINX_IMAGE"
build_stand_in redis "$REDIS_IMAGE"
