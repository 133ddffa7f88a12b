"""The applications' pages, widget and messages in Simplified Chinese (issue 20, item 5)."""

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def assert_shows(html: str, present: tuple[str, ...], absent: tuple[str, ...] = ()) -> None:
    """Every text of ``present`` is in ``html`` and none of ``absent`` is."""
    missing = [text for text in present if text not in html]
    assert not missing, f"missing {missing}"
    leaked = [text for text in absent if text in html]
    assert not leaked, f"untranslated {leaked}"
