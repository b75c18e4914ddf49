"""The recorded input lines a resumed scan skips, kept compactly (scanner.store.parts.Lines)."""

from __future__ import annotations

from scanner.store.parts import Lines


def test_lines_behave_as_the_set_of_their_values() -> None:
    lines = Lines([7, 3])
    lines.update([3, 12, 7, 5])  # a name of several addresses records its line once per row
    assert len(lines) == 4
    assert list(lines) == [3, 5, 7, 12]
    assert lines == {3, 5, 7, 12} and lines != {3, 5, 7} and lines != {3, 5, 7, 13}
    assert all(x in lines for x in (3, 5, 7, 12))
    assert not any(x in lines for x in (0, 4, 6, 13, -1, "3"))
    lines.update([4])
    assert 4 in lines and len(lines) == 5
    assert len(Lines()) == 0 and 1 not in Lines()
