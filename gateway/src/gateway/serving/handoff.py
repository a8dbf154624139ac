"""One published socket that a new gateway container takes over from the old one, atomically.

nginx reaches the gateway at ``<dir>/gateway.sock``: a symbolic link to the Unix socket of the
gateway container that serves (``<dir>/<hostname>.sock``, which that container's gunicorn binds).
nginx follows the link on every new connection, so pointing it at another container's socket
(a ``rename``, atomic) moves all new connections there, without reloading nginx: a reload closes
nginx's own idle client connections, which races clients exactly like closing an idle upstream
connection does. The old container keeps serving the connections it has, and when it is stopped
it drains them (:mod:`gateway.serving.worker`); nothing connects to its socket any more, so
closing that socket cannot reset a connection waiting in its accept queue (closing a TCP listener
that nginx still connects to would).

- At start, gunicorn's master publishes its own socket unless another live one is published
  (:func:`publish_unless_served`): a fresh stack or a restarted container takes the link, while a
  second container started by ``make upgrade`` waits until it is healthy and told to take over.
- ``gateway takeover`` (run in the new container by ``gateway/rollout.sh``) publishes its socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

PUBLISHED = "gateway.sock"
"""Name of the link nginx connects to, in the socket directory."""
PROBE_SECONDS = 2.0


def own_socket(directory: Path) -> Path:
    """This container's socket: ``<directory>/<hostname>.sock`` (gunicorn binds it)."""
    return directory / f"{socket.gethostname()}.sock"


def bind_address(directory: Path) -> str:
    """gunicorn's ``bind`` entry for :func:`own_socket`."""
    return f"unix:{own_socket(directory)}"


def serves(path: Path) -> bool:
    """Whether something accepts connections at the Unix socket ``path`` (links followed)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_SECONDS)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def published_target(directory: Path) -> str | None:
    """The socket name the published link points at (None: no link)."""
    try:
        return os.readlink(directory / PUBLISHED)
    except OSError:
        return None


def publish(directory: Path) -> Path:
    """Point ``<directory>/gateway.sock`` at this container's socket, atomically (a rename).

    Returns the published link. New connections go to this container from now on; connections
    already open to another container stay where they are.
    """
    target = own_socket(directory).name
    link = directory / PUBLISHED
    staging = directory / f".{PUBLISHED}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    staging.symlink_to(target)
    staging.replace(link)
    return link


def publish_unless_served(directory: Path) -> bool:
    """Publish this container's socket unless another one is published and accepts connections.

    Returns whether it published. A link to this very socket (a restarted container) counts as
    not served by another.
    """
    if published_target(directory) == own_socket(directory).name:
        return False
    if serves(directory / PUBLISHED):
        return False
    publish(directory)
    return True
