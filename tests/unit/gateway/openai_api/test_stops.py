"""Stop strings are matched by the gateway on the answer, across chunk boundaries."""

from __future__ import annotations

from gateway.openai_api.stops import StopMatcher


def run(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    """What the matcher releases for each piece, and whether a stop string matched."""
    matcher = StopMatcher(stops)
    out = [matcher.feed(piece) for piece in pieces]
    out.append(matcher.flush())
    return out, matcher.matched


def test_a_stop_string_split_over_chunks_is_found_and_nothing_after_it_is_released() -> None:
    assert run(["END"], ["Hello E", "N", "D and more", " text"]) == (
        ["Hello ", "", "", "", ""],
        True,
    )


def test_a_false_start_is_released_when_the_next_piece_shows_it() -> None:
    assert run(["END"], ["a E", "NX b", " c"]) == (["a ", "ENX b", " c", ""], False)
    assert run(["\n\n"], ["line\n", "next"]) == (["line", "\nnext", ""], False)


def test_the_earliest_of_several_stops_wins_and_empty_stops_are_ignored() -> None:
    assert run(["world", ".", ""], ["Hello. Big world."]) == (["Hello", ""], True)
    assert run([""], ["a", "b"]) == (["a", "b", ""], False)


def test_held_text_is_released_at_the_end() -> None:
    assert run(["ab"], ["xa"]) == (["x", "a"], False)
