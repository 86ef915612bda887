"""The one error the pipeline language raises, and the problems it carries.

Every problem names a file, a 1-based line and column, the JSON path of the
offending value and a message; ``str(SpecError)`` is the full report, one line
per problem, sorted by position.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathT = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render a JSON path the way users write it: ``chats[0].messages[1].user``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    match = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with a pipeline, at a position.

    Attributes:
        file: The file the problem is in (the pipeline, a dataset, ``<--set key>``).
        line: 1-based line.
        column: 1-based column.
        path: JSON path of the value, as shown (``chats[0].temperature``).
        message: What is wrong, with what was expected and what was found.
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {self.message}"


_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape(text: str) -> str:
    """``text`` with control and invisible format characters written as escapes.

    A problem quotes what the user wrote; a newline must not split its line, and an
    escape sequence or a bidi override must not act on the terminal that shows it.
    """
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE:
            out.append(repr(ch)[1:-1] if ch in "\n\r\t" or ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _one_line(problem: Problem) -> Problem:
    file, path, message = _escape(problem.file), _escape(problem.path), _escape(problem.message)
    if (file, path, message) == (problem.file, problem.path, problem.message):
        return problem
    return Problem(file, problem.line, problem.column, path, message)


class SpecError(Exception):
    """A pipeline (or a file it names) is invalid.

    Attributes:
        problems: Every problem found, sorted by file and position, duplicates removed.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted({_one_line(p) for p in problems}))
        if not self.problems:
            raise ValueError("SpecError needs at least one problem")
        super().__init__(self.report())

    def report(self) -> str:
        """The full report: one ``file:line:col: path: message`` line per problem."""
        return "\n".join(str(p) for p in self.problems)

    def __str__(self) -> str:
        return self.report()


class ProblemList:
    """Collects problems; :meth:`raise_if_any` turns them into a :class:`SpecError`."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(
        self, file: str, mark: tuple[int, int], path: Sequence[str | int], message: str
    ) -> None:
        """Record a problem at ``mark`` (1-based line, column)."""
        self.items.append(Problem(file, mark[0], mark[1], format_path(path), message))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Record problems found elsewhere."""
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise a :class:`SpecError` listing every recorded problem, if there is any."""
        if self.items:
            raise SpecError(self.items)
