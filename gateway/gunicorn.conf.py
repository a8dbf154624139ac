"""gunicorn config file for `gunicorn -c gateway/gunicorn.conf.py`; the values live in the package
(`gateway.gunicorn_conf`) so that `gateway serve` and the container use the very same settings."""

from gateway.gunicorn_conf import (
    accesslog,
    bind,
    child_exit,
    control_socket_disable,
    forwarded_allow_ips,
    graceful_timeout,
    keepalive,
    logconfig_dict,
    max_requests,
    max_requests_jitter,
    on_exit,
    on_starting,
    post_worker_init,
    timeout,
    when_ready,
    worker_class,
    workers,
    wsgi_app,
)

__all__ = [
    "accesslog",
    "bind",
    "child_exit",
    "control_socket_disable",
    "forwarded_allow_ips",
    "graceful_timeout",
    "keepalive",
    "logconfig_dict",
    "max_requests",
    "max_requests_jitter",
    "on_exit",
    "on_starting",
    "post_worker_init",
    "timeout",
    "when_ready",
    "worker_class",
    "workers",
    "wsgi_app",
]
