"""Where an application's platform default model is, for the web tier and the workers alike.

Two places, in this order: the model installed by ``manage.py train_default_model`` in
``DEFAULT_MODELS_DIR/<app>`` (the full fine-tune, say: git-ignored), else the one shipped in
the repository in ``SHIPPED_MODELS_DIR/<app>`` (a small artefact, so a fresh clone serves
without training first). A folder counts once its ``manifest.json`` exists (artefacts are
swapped in whole, so that means a complete one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from django.conf import settings

Origin = Literal["installed", "shipped"]


def _roots() -> list[tuple[Origin, Path]]:
    return [("installed", Path(settings.DEFAULT_MODELS_DIR)),
            ("shipped", Path(settings.SHIPPED_MODELS_DIR))]


def default_model_location(app: str) -> tuple[Origin, Path] | None:
    """``(origin, folder)`` of ``app``'s default model, the installed one first; None when
    there is neither."""
    for origin, root in _roots():
        directory = root / app
        if (directory / "manifest.json").is_file():
            return origin, directory
    return None


def default_model_dir(app: str) -> Path | None:
    """The folder of ``app``'s default model (see ``default_model_location``), or None."""
    location = default_model_location(app)
    return location[1] if location is not None else None


def default_model_apps() -> list[str]:
    """The applications that have a default model, installed or shipped, sorted."""
    return sorted({manifest.parent.name for _origin, root in _roots()
                   for manifest in root.glob("*/manifest.json")})
