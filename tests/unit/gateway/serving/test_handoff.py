"""The published socket nginx connects to, and how a new gateway takes it over.

Real Unix sockets in a short temporary directory stand in for the gateways' listeners.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway import cli, gunicorn_conf
from gateway.serving import handoff


@pytest.fixture
def directory() -> Iterator[Path]:
    """A socket directory with a short path (Unix socket paths are limited to ~100 bytes)."""
    with tempfile.TemporaryDirectory(prefix="gw-") as name:
        yield Path(name)


def listening(path: Path) -> socket.socket:
    """A Unix socket listening at ``path`` (the caller closes it)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    return server


def test_publishing_points_the_link_at_this_containers_socket(directory: Path) -> None:
    with listening(handoff.own_socket(directory)):
        link = handoff.publish(directory)

        assert link == directory / handoff.PUBLISHED
        assert handoff.published_target(directory) == handoff.own_socket(directory).name
        assert handoff.serves(link)


def test_publishing_replaces_a_link_to_another_gateway(directory: Path) -> None:
    other = directory / "other.sock"
    (directory / handoff.PUBLISHED).symlink_to(other.name)
    with listening(other), listening(handoff.own_socket(directory)):
        handoff.publish(directory)

        assert handoff.published_target(directory) == handoff.own_socket(directory).name
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            [handoff.PUBLISHED, other.name, handoff.own_socket(directory).name]
        )


def test_a_new_gateway_does_not_take_the_link_from_a_live_one(directory: Path) -> None:
    other = directory / "other.sock"
    (directory / handoff.PUBLISHED).symlink_to(other.name)
    with listening(other), listening(handoff.own_socket(directory)):
        assert not handoff.publish_unless_served(directory)
        assert handoff.published_target(directory) == other.name


@pytest.mark.parametrize("leftover", ["none", "dead link", "own link"])
def test_a_gateway_publishes_itself_when_nobody_else_serves(directory: Path, leftover: str) -> None:
    if leftover == "dead link":
        (directory / handoff.PUBLISHED).symlink_to("gone.sock")
    if leftover == "own link":  # a restarted container
        (directory / handoff.PUBLISHED).symlink_to(handoff.own_socket(directory).name)
    with listening(handoff.own_socket(directory)):
        published = handoff.publish_unless_served(directory)

        assert published is (leftover != "own link")
        assert handoff.published_target(directory) == handoff.own_socket(directory).name


def test_nothing_serves_a_missing_or_dead_socket(directory: Path) -> None:
    dead = directory / "dead.sock"
    listening(dead).close()

    assert not handoff.serves(directory / "missing.sock")
    assert not handoff.serves(dead)


def test_takeover_publishes_a_listening_gateway(
    directory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with listening(handoff.own_socket(directory)):
        status = cli.main(["takeover", "--socket-dir", str(directory)])

    assert status == 0
    assert handoff.published_target(directory) == handoff.own_socket(directory).name
    assert "new connections come here" in capsys.readouterr().out


def test_takeover_refuses_when_this_gateway_does_not_listen(
    directory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["takeover", "--socket-dir", str(directory)]) == 1
    assert handoff.published_target(directory) is None
    assert "does not listen" in capsys.readouterr().out


def test_takeover_needs_the_socket_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["takeover", "--socket-dir", ""]) == 2
    assert "GATEWAY_SOCKET_DIR" in capsys.readouterr().out


def test_the_gunicorn_master_publishes_its_socket_when_ready(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gunicorn_conf, "SOCKET_DIR", str(directory))
    messages: list[str] = []
    master = SimpleNamespace(log=SimpleNamespace(info=lambda msg, *a: messages.append(msg % a)))
    with listening(handoff.own_socket(directory)):
        gunicorn_conf.when_ready(master)

    assert handoff.published_target(directory) == handoff.own_socket(directory).name
    assert messages == [f"Published {handoff.own_socket(directory)} to nginx"]


def test_a_second_gunicorn_master_waits_for_the_takeover(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gunicorn_conf, "SOCKET_DIR", str(directory))
    messages: list[str] = []
    master = SimpleNamespace(log=SimpleNamespace(info=lambda msg, *a: messages.append(msg % a)))
    other = directory / "other.sock"
    (directory / handoff.PUBLISHED).symlink_to(other.name)
    with listening(other), listening(handoff.own_socket(directory)):
        gunicorn_conf.when_ready(master)

    assert handoff.published_target(directory) == other.name
    assert messages == ["Another gateway serves nginx: this one waits for `gateway takeover`"]


def test_the_socket_is_bound_next_to_the_tcp_port(directory: Path) -> None:
    assert handoff.bind_address(directory) == f"unix:{directory}/{socket.gethostname()}.sock"
