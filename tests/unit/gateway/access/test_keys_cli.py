"""`gateway keys create|list|revoke|rotate` against a key file in a temporary directory."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.access.keys import digest_of, read_key_file
from gateway.access.keytable import KeyTable
from gateway.cli import main


@pytest.fixture
def keys_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """GATEWAY_KEYS_FILE pointing into a fresh temporary directory."""
    path = tmp_path / "keys.json"
    monkeypatch.setenv("GATEWAY_KEYS_FILE", str(path))
    return path


def create(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `gateway keys create`; return the key it printed (alone on stdout)."""
    assert main(["keys", "create", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "only the key goes to stdout"
    return out.strip()


def test_create_prints_the_key_once_and_stores_only_its_digest(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create(capsys, "--name", "alice")
    assert key.startswith("sk-")
    assert len(key) >= 40
    text = keys_file.read_text()
    assert key not in text
    assert digest_of(key) in text
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert KeyTable(path=keys_file).lookup(key) is not None


def test_create_stores_limits_models_admin_and_expiry(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create(
        capsys,
        "--name=bob",
        "--rpm=30",
        "--tpm=5000",
        "--max-concurrent=2",
        "--models=gpt-oss:20b, qwen3",
        "--admin",
        "--expires=30d",
    )
    (record,) = read_key_file(keys_file).keys
    assert (record.rpm, record.tpm, record.max_concurrent) == (30, 5000, 2)
    assert record.models == ["gpt-oss:20b", "qwen3"]
    assert record.admin
    assert record.enabled
    assert record.expires is not None
    assert abs(record.expires - datetime.now(UTC) - timedelta(days=30)) < timedelta(minutes=1)


def test_duplicate_name_is_refused_with_a_hint(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create(capsys, "--name", "alice")
    assert main(["keys", "create", "--name", "alice"]) == 2
    assert "gateway keys rotate alice" in capsys.readouterr().err
    assert len(read_key_file(keys_file).keys) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "yesterday"], "cannot read expiry"),
        (["--expires", "2001-01-01"], "in the past"),
    ],
)
def test_bad_expiry_is_refused(
    keys_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["keys", "create", "--name", "carol", *args]) == 2
    assert message in capsys.readouterr().err
    assert not keys_file.exists()


@pytest.mark.parametrize("args", [["--name", "has space"], ["--name", "x", "--rpm", "-1"]])
def test_invalid_arguments_exit_with_usage(keys_file: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", *args])
    assert exited.value.code == 2


def test_list_shows_keys_without_secrets(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = create(capsys, "--name", "alice", "--rpm", "0")
    create(capsys, "--name", "bob", "--models", "qwen3")
    assert main(["keys", "list"]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert "alice" in lines[1]
    assert "none" in lines[1]
    assert "bob" in lines[2]
    assert "qwen3" in lines[2]
    assert alice not in table
    assert digest_of(alice) not in table

    assert main(["keys", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["alice", "bob"]
    assert all("sha256" not in row for row in rows)
    assert {row["status"] for row in rows} == {"active"}


def test_revoke_by_name_disables_the_key(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create(capsys, "--name", "alice")
    assert main(["keys", "revoke", "alice"]) == 0
    found = KeyTable(path=keys_file).lookup(key)
    assert found is not None
    assert not found.enabled
    main(["keys", "list"])
    assert "revoked" in capsys.readouterr().out


def test_rotate_by_id_replaces_the_secret_and_keeps_the_limits(
    keys_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = create(capsys, "--name", "alice", "--rpm", "7")
    (record,) = read_key_file(keys_file).keys
    assert main(["keys", "revoke", record.id]) == 0
    assert main(["keys", "rotate", record.id]) == 0
    new = capsys.readouterr().out.strip()
    assert new.startswith("sk-")
    assert new != old
    table = KeyTable(path=keys_file)
    assert table.lookup(old) is None
    rotated = table.lookup(new)
    assert rotated is not None
    assert rotated.enabled
    assert rotated.rpm == 7
    assert rotated.id == record.id


def test_unknown_key_is_reported(keys_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "revoke", "nobody"]) == 2
    assert "no key with id or name 'nobody'" in capsys.readouterr().err


def test_without_a_key_file_it_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GATEWAY_KEYS_FILE", raising=False)
    assert main(["keys", "list"]) == 2
    assert "GATEWAY_KEYS_FILE" in capsys.readouterr().err


def test_file_option_overrides_the_environment(
    keys_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    assert main(["keys", "create", "--file", str(other), "--name", "dave"]) == 0
    capsys.readouterr()
    assert [r.name for r in read_key_file(other).keys] == ["dave"]
    assert not keys_file.exists()


def test_unusable_location_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert main(["keys", "create", "--file", str(not_a_dir / "keys.json"), "--name", "eve"]) == 2
    assert "Is its directory writable?" in capsys.readouterr().err
