"""The hostile-request corpus (tests/support/hostile.py) through nginx, against the whole stack.

Same cases and rules as the direct run (tests/unit/gateway/test_hostile_requests.py), except that
nothing may answer in plain text here: nginx's own refusals (bad framing, 405, 414, 431/494, 501)
must be JSON too. After each case an innocent request on the same keep-alive connection (or a new
one when the case may close it) must succeed, so a gateway worker that drops its upstream
connection shows up as nginx's 502 for the innocent. One test per class keeps the logs attached
to a failure readable; the failure message lists every failing case of the class.

The cases run with a key of their own without rate limits (hundreds of requests); only four
cases send a wrong key, below the failed-auth limit of the stack.
"""

from __future__ import annotations

import pytest

from tests.e2e.stack import Stack, StackSettings, wait_until
from tests.support.hostile import CLASSES, corpus
from tests.support.hostile_run import Target, healthy_after, innocent, run_case

pytestmark = pytest.mark.e2e

CASES = corpus(StackSettings().max_body_bytes)
KEY_NAME = "hostile-corpus"


@pytest.fixture(scope="module")
def hostile_target(ready_stack: Stack) -> Target:
    """nginx's address and a fresh key without request, token or concurrency limits."""
    created = ready_stack.run(
        "exec", "-T", "gateway", "gateway", "keys", "create", "--name", KEY_NAME,
        "--rpm", "0", "--tpm", "0", "--max-concurrent", "0",
    )  # fmt: skip
    key = created.stdout.strip().splitlines()[-1]
    target = Target.from_url(ready_stack.base_url, key)

    def key_works() -> bool | None:
        answer = innocent(target).response
        return True if answer is not None and answer.status == 200 else None

    # Every worker reloads the key file about once a second.
    wait_until(key_works, timeout=30, what="the hostile-corpus key to be accepted")
    return target


@pytest.mark.parametrize("klass", CLASSES)
def test_hostile_requests_through_nginx(klass: str, hostile_target: Target) -> None:
    failures: dict[str, list[str]] = {}
    cases = [case for case in CASES if case.klass == klass]
    for case in cases:
        problems = run_case(case, hostile_target, direct=False)
        if problems:
            failures[case.name] = problems

    report = "\n".join(f"  {name}: {'; '.join(problems)}" for name, problems in failures.items())
    assert not failures, f"{len(failures)} of {len(cases)} '{klass}' cases failed:\n{report}"


def test_stack_is_healthy_after_the_hostile_corpus(
    hostile_target: Target, stack_settings: StackSettings
) -> None:
    problems = healthy_after(hostile_target, stack_settings.model)

    assert not problems, problems
