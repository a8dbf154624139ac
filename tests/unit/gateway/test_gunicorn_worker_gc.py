"""Each gunicorn worker tunes its garbage collector once the app is loaded."""

from __future__ import annotations

import gc
import runpy
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from gateway import gunicorn_conf
from tests.support.paths import REPO_ROOT

CONTAINER_CONFIG = REPO_ROOT / "gateway" / "gunicorn.conf.py"


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    before = gc.get_threshold()
    gunicorn_conf.post_worker_init(SimpleNamespace())
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] > before[0]
    assert gc.get_threshold()[1:] == before[1:]


def test_the_container_config_installs_the_hook() -> None:
    config = runpy.run_path(str(CONTAINER_CONFIG))
    assert config["post_worker_init"] is gunicorn_conf.post_worker_init
