"""The Simplified Chinese catalog covers every message of the code, and the committed ``.mo``
is the compiled ``.po`` (a fresh clone runs without gettext installed)."""

from __future__ import annotations

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.i18n import pofile

CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
# What `manage.py makemessages` reads (console's makemessages ignores the rest).
SOURCES = ("platform", "apps", "workers", "templates")


def _extract(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> list[pofile.Entry]:
    """The messages makemessages finds in a copy of the sources (it writes beside templates
    while it works, so never in the checkout), as a fresh catalog with no translations."""
    for source in SOURCES:
        shutil.copytree(Path(settings.BASE_DIR) / source, workdir / source,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (workdir / "locale").mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(settings, "LOCALE_PATHS", [workdir / "locale"])
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    return pofile.messages(workdir / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")


def test_every_message_of_the_code_has_a_chinese_translation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extracted = _extract(tmp_path, monkeypatch)
    assert len(extracted) > 100  # the extraction itself worked
    committed = {entry.key: entry for entry in pofile.messages(CATALOG / "django.po")}
    missing = [entry.msgid for entry in extracted
               if entry.key not in committed or not committed[entry.key].translated
               or committed[entry.key].fuzzy]
    assert not missing, f"{len(missing)} messages lack a zh_Hans translation: {missing}"
    plurals = [entry.msgid for entry in extracted
               if entry.msgid_plural and committed[entry.key].msgid_plural != entry.msgid_plural]
    assert not plurals


def test_the_catalog_has_no_fuzzy_empty_or_stale_entries() -> None:
    entries = pofile.parse(CATALOG / "django.po")
    header = entries[0]
    assert header.msgid == ""
    assert not header.fuzzy
    assert "Language: zh_Hans" in header.msgstr[0]
    bad = [entry.msgid for entry in entries[1:] if entry.fuzzy or not entry.translated]
    assert not bad


def test_the_committed_mo_is_the_compiled_po(tmp_path: Path) -> None:
    compiled = tmp_path / "django.mo"
    # --check: the placeholders of python-format entries match their msgid's.
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(CATALOG / "django.po")],
                   check=True, capture_output=True)
    with compiled.open("rb") as fresh, (CATALOG / "django.mo").open("rb") as committed:
        assert gettext.GNUTranslations(committed)._catalog == (  # type: ignore[attr-defined]
            gettext.GNUTranslations(fresh)._catalog)  # type: ignore[attr-defined]
