"""The stack's nginx configuration (nginx/) run by the host's nginx, outside Docker, for unit tests.

What the image's entrypoint does at start is done here the same way: the templates are rendered
with the given variables (only ``${NAME}`` of those, like the image's envsubst), the
``entrypoint.d`` scripts run, and the page (nginx/www) is where the image puts it. Every
``/etc/nginx`` and ``/usr/share/nginx`` path is moved under a temporary directory, so that nginx
runs on a free loopback port beside anything else. Needs Debian's ``nginx``
(``.ci/install-packages.sh``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.paths import REPO_ROOT
from tests.support.servers import free_port, wait_until_up

NGINX_DIR = REPO_ROOT / "nginx"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
_ENV_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def _relocated(text: str, root: Path, port: int) -> str:
    return (
        text.replace("/etc/nginx/", f"{root}/etc/")
        .replace("/usr/share/nginx/", f"{root}/share/")
        .replace("/var/log/nginx/", f"{root}/log/")
        .replace("/run/nginx.pid", f"{root}/nginx.pid")
        # The workers read this test's files (ignored, with a notice, when not run as root).
        .replace("user nginx;", "user root;")
        .replace("listen 80 ", f"listen 127.0.0.1:{port} ")
    )


def _render(root: Path, port: int, env: dict[str, str]) -> None:
    etc = root / "etc"
    (etc / "conf.d").mkdir(parents=True)
    (root / "log").mkdir()
    (root / "temp").mkdir()
    shutil.copytree(NGINX_DIR / "gptoss", etc / "gptoss")
    shutil.copytree(NGINX_DIR / "www", root / "share" / "gptoss-ui")
    shutil.copy("/etc/nginx/mime.types", etc / "mime.types")
    for conf in (etc / "gptoss").iterdir():
        conf.write_text(_relocated(conf.read_text(), root, port))
    # Temporary files in the test's directory too: the packaged ones are root's.
    temp_paths = "".join(
        f"    {kind}_temp_path {root}/temp/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    nginx_conf = (NGINX_DIR / "nginx.conf").read_text().replace("http {\n", "http {\n" + temp_paths)
    (etc / "nginx.conf").write_text(_relocated(nginx_conf, root, port))
    for template in (NGINX_DIR / "templates").glob("*.template"):
        text = _ENV_REFERENCE.sub(lambda m: env.get(m[1], m[0]), template.read_text())
        rendered = _relocated(text, root, port)
        (etc / "conf.d" / template.name.removesuffix(".template")).write_text(rendered)
    for script in sorted((NGINX_DIR / "entrypoint.d").glob("*-gptoss-*.sh")):
        moved = root / script.name
        moved.write_text(_relocated(script.read_text(), root, port))
        subprocess.run(
            ["sh", str(moved)], env={**os.environ, **env}, check=True, capture_output=True
        )


@contextmanager
def running_nginx(upstream: str, root: Path, port: int | None = None, **env: str) -> Iterator[str]:
    """nginx/ in front of ``upstream`` (``host:port``) on ``port`` (default: a free one).

    Yields its base URL. ``env`` sets the container's variables (``GATEWAY_CORS_ORIGINS``, ...).
    """
    port = port or free_port()
    settings = {
        "GATEWAY_UPSTREAM": upstream,
        "NGINX_CLIENT_MAX_BODY_SIZE": "1048576",
        "NGINX_PROXY_READ_TIMEOUT": "60s",
        "METRICS_ALLOW": "127.0.0.1/32",
        **env,
    }
    _render(root, port, settings)
    conf = root / "etc" / "nginx.conf"
    error_log = root / "log" / "error.log"
    process = subprocess.Popen(
        [NGINX, "-p", str(root), "-e", str(error_log), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(f"{url}/nginx-health")
        except RuntimeError:
            process.kill()
            errors = process.communicate()[1].decode()
            raise RuntimeError(f"nginx did not start: {errors}") from None
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
