#!/bin/sh
# Same behaviour as the official nginx image's script: substitute only the variables that are set in
# the environment (so nginx's own $variables survive) from $NGINX_ENVSUBST_TEMPLATE_DIR/*.template
# into $NGINX_ENVSUBST_OUTPUT_DIR, keeping sub-directories.
set -e
template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"
[ -d "$template_dir" ] || exit 0
# shellcheck disable=SC2016,SC2046  # literal ${NAME} list, one word per variable name
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" </dev/null))
find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative_path="${template#"$template_dir/"}"
    output_path="$output_dir/${relative_path%"$suffix"}"
    mkdir -p "$output_dir/$(dirname "$relative_path")"
    echo "$0: Running envsubst on $template to $output_path"
    envsubst "$defined_envs" <"$template" >"$output_path"
done
