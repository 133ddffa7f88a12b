"""A small reader of gettext catalogs (``.po``/``.pot``), enough for the catalog tests.

It keeps what the tests judge: each entry's context, msgid (and plural), translations and
whether it is fuzzy; obsolete (``#~``) entries are dropped, as msgfmt drops them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    locations: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(text.strip() for text in self.msgstr.values())


def _string(line: str) -> str:
    return ast.literal_eval(line.strip())


def parse(path: Path) -> list[Entry]:
    """The entries of a catalog, the header (msgid "") first."""
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None  # the keyword a continuation line extends
    started = False

    def finish() -> None:
        nonlocal entry, started, target
        if started:
            entries.append(entry)
        entry, started, target = Entry(), False, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
        elif line.startswith("#~"):
            continue
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#:"):
            entry.locations.extend(line[2:].split())
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if target is None:
                raise ValueError(f"{path}: a string outside an entry: {raw!r}")
            keyword, index = target
            if keyword == "msgstr":
                entry.msgstr[index] += _string(line)
            else:
                setattr(entry, keyword, (getattr(entry, keyword) or "") + _string(line))
        else:
            keyword, _, rest = line.partition(" ")
            started = True
            if keyword.startswith("msgstr"):
                index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
                entry.msgstr[index] = _string(rest)
                target = ("msgstr", index)
            elif keyword in ("msgid", "msgid_plural", "msgctxt"):
                setattr(entry, keyword, _string(rest))
                target = (keyword, 0)
            else:
                raise ValueError(f"{path}: unknown line {raw!r}")
    finish()
    return entries


def messages(path: Path) -> list[Entry]:
    """The entries without the header."""
    return [entry for entry in parse(path) if entry.msgid or entry.msgctxt]
