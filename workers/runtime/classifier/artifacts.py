"""A classifier's artefact on disk: what is written (``write_artifact``), its manifest, and
loading it once per process into the model cache (``load_classifier``, ``cached_classifier``,
``unload_classifier``).

Artefacts (one folder):

- ``manifest.json``: format, base name, method, max length, pooling, labels, hidden size, and
  the calibration of its confidences (``{"method": "temperature", "temperature": T}``; absent
  in artefacts written before it, which are read as the plain softmax);
- ``labels.json``: the label map (name -> id);
- ``head.safetensors``: the classification head;
- ``metrics.json``: validation metrics of the kept (best) epoch and the per-epoch history;
- LoRA: ``adapter/`` (peft's ``adapter_config.json`` + ``adapter_model.safetensors``): a few
  hundred KB for MiniLM, never a copy of the base, which is loaded from the registry;
- full fine-tune: ``model/`` holds the whole fine-tuned encoder and its tokenizer (about the
  size of the base model, ~90 MB for MiniLM) because every weight changed;
- head only: nothing else (the base is loaded from the registry and used as is);
- optionally ``scope.safetensors`` + ``scope.json``: the training utterances' vectors that
  score how far a message is from the intents (``workers.runtime.scope``; the bot writes them).

The adapter and the head may be stored as float16 (``stored_dtype``, the manifest's
``stored_dtype``): half the bytes (the shipped finance default is 1.4 MB so), loaded back to
float32 when they are copied into the float32 modules.

An artefact is written to a temporary sibling folder and swapped in whole, so a reader (or a
rerun after a crash) never finds half of one. Loaded classifiers share one base per process: a
LoRA classifier attaches its adapter to the cached base and leaves it on eviction; a head-only
one reads the plain base; both depend on the base's cache entry, and a base evicted by another
thread meanwhile is loaded again (three attempts).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from workers.runtime.base_models import (
    ENCODER_CLASSES,
    Encoder,
    SharedBase,
    _import_attr,
    base_key,
    get_base,
)
from workers.runtime.cache import ModelCache, default_cache
from workers.runtime.classifier.model import ClassificationHead, Classifier
from workers.runtime.device import select_device
from workers.runtime.scope import ScopeModel

FORMAT_VERSION = 1
STORED_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16}
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # peft's file name


def artifact_manifest(*, base: str, method: str, max_length: int, encoder: Encoder,
                      labels: list[str], lora: dict[str, Any] | None, best_epoch: int,
                      seed: int, calibration: dict[str, Any] | None = None,
                      stored_dtype: str = "float32") -> dict[str, Any]:
    """``manifest.json`` of an artefact (``lora``: r, alpha and target modules, or None;
    ``calibration``: the fitted calibrator, see ``workers.runtime.calibration``;
    ``stored_dtype``: the adapter's and the head's on disk)."""
    return {
        "format": FORMAT_VERSION, "base": base, "method": method, "max_length": max_length,
        "pooling": encoder.pooling, "labels": labels, "hidden_size": encoder.hidden_size,
        "head": "dropout+linear", "lora": lora, "best_epoch": best_epoch, "seed": seed,
        "calibration": calibration or {"method": "none"},
        "stored_dtype": stored_dtype,
    }


def _stored(tensors: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``tensors`` on the CPU, floating ones cast to ``dtype``, ready for ``save_file``."""
    return {name: (t.detach().cpu().to(dtype) if t.is_floating_point() else t.detach().cpu())
            .contiguous() for name, t in tensors.items()}


def write_artifact(out: Path, manifest: dict[str, Any], label_map: dict[str, int],
                   head: ClassificationHead, metrics: dict[str, Any], *,
                   encoder: Encoder | None = None, peft_model: Any = None,
                   stored_dtype: str = "float32") -> None:
    """Write the artefact to a temporary sibling, then swap it in (a rerun replaces it): the
    adapter of ``peft_model`` (LoRA), else the whole ``encoder`` (full), else no encoder. The
    adapter's and the head's weights are stored as ``stored_dtype`` (see the module doc)."""
    dtype = STORED_DTYPES[stored_dtype]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        if peft_model is not None:
            peft_model.save_pretrained(str(tmp / "adapter"))
            _portable_adapter(tmp / "adapter", manifest["base"])
            weights = tmp / "adapter" / ADAPTER_WEIGHTS
            if dtype != torch.float32 and weights.is_file():
                save_file(_stored(load_file(str(weights)), dtype), str(weights),
                          metadata={"format": "pt"})
        elif encoder is not None:
            encoder.model.save_pretrained(str(tmp / "model"))
            encoder.tokenizer.save_pretrained(str(tmp / "model"))
        save_file(_stored(head.state_dict(), dtype), str(tmp / "head.safetensors"))
        (tmp / "labels.json").write_text(json.dumps(label_map, indent=1), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _portable_adapter(adapter: Path, base: str) -> None:
    """Name the base by its registry name in peft's ``adapter_config.json``, not by the folder
    it was loaded from on this machine (loading attaches the adapter to the registry's base,
    so the folder was never read back), and drop peft's generated model card, which repeats
    that folder."""
    config_file = adapter / "adapter_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    (adapter / "README.md").unlink(missing_ok=True)


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _adapter_name(key: Hashable) -> str:
    return "t" + hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest()[:16]


def _load_head(path: Path, hidden_size: int, num_labels: int) -> ClassificationHead:
    head = ClassificationHead(hidden_size, num_labels)
    head.load_state_dict(load_file(str(path)))
    return head.eval()


ValidationRows = Callable[[], "tuple[list[str], list[str]] | None"]


def _in_precision(classifier: Classifier, directory: Path, precision: str,
                  validation_rows: ValidationRows | None) -> Classifier:
    """``classifier``, switched to its validated int8 model when ``precision`` is int8
    (``workers.runtime.quantization``, imported only then: fp32 workers never load ONNX
    Runtime)."""
    if precision == "int8":
        from workers.runtime.quantization import serve_int8

        serve_int8(classifier, directory, validation_rows)
    return classifier


def load_classifier(artifact_dir: str | Path, *, cache: ModelCache | None = None,
                    key: Hashable | None = None, precision: str = "fp32",
                    validation_rows: ValidationRows | None = None) -> Classifier:
    """A saved classifier, loaded once per process and cached under ``key`` (a model-version
    id; default: the artefact path). A LoRA classifier attaches its adapter to the cached
    shared base model; a full fine-tune loads its own encoder.

    ``precision="int8"``: its forward passes run on an int8 copy of it once that copy has
    matched fp32 on ``validation_rows()`` (``(texts, labels)``; see
    ``workers.runtime.quantization``), else in fp32."""
    if precision not in ("fp32", "int8"):
        raise ValueError(f"precision must be 'fp32' or 'int8', not {precision!r}")
    cache = cache if cache is not None else default_cache()
    directory = Path(artifact_dir).resolve()
    manifest = _read_json(directory / "manifest.json")
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{directory}: unsupported artefact format {manifest.get('format')!r}")
    labels: list[str] = list(manifest["labels"])
    max_length = int(manifest["max_length"])
    cache_key = _classifier_key(key if key is not None else str(directory))

    if manifest["method"] == "full":
        def load_full() -> Classifier:
            device = select_device()
            encoder_cls = _import_attr(ENCODER_CLASSES[manifest.get("pooling", "mean")])
            encoder = encoder_cls.load(str(directory / "model"), device)
            head = _load_head(directory / "head.safetensors", encoder.hidden_size, len(labels))
            own = SharedBase(f"{manifest['base']} (full fine-tune)", encoder, device)
            return _in_precision(Classifier(own, head, labels, max_length=max_length,
                                            manifest=manifest, scope=ScopeModel.load(directory)),
                                 directory, precision, validation_rows)

        return cache.get_or_load(cache_key, load_full)

    if manifest["method"] == "head":
        for _attempt in range(3):
            shared = get_base(manifest["base"], cache=cache)

            def load_head(shared: SharedBase = shared) -> Classifier:
                head = _load_head(directory / "head.safetensors", shared.encoder.hidden_size,
                                  len(labels))
                return _in_precision(Classifier(
                    shared, head, labels, max_length=max_length, manifest=manifest,
                    scope=ScopeModel.load(directory)), directory, precision, validation_rows)

            try:
                return cache.get_or_load(cache_key, load_head,
                                         depends_on=[base_key(manifest["base"])])
            except KeyError:  # the base was evicted by another thread meanwhile: load it again
                continue
        raise RuntimeError(f"could not keep base model {manifest['base']!r} in the model cache")

    adapter_name = _adapter_name(cache_key)
    for _attempt in range(3):
        base = get_base(manifest["base"], cache=cache)

        def load_lora(base: SharedBase = base) -> Classifier:
            base.attach_adapter(directory / "adapter", adapter_name)
            head = _load_head(directory / "head.safetensors", base.encoder.hidden_size,
                              len(labels))
            return _in_precision(Classifier(
                base, head, labels, max_length=max_length, adapter_name=adapter_name,
                adapter_dir=directory / "adapter", manifest=manifest,
                scope=ScopeModel.load(directory)), directory, precision, validation_rows)

        try:
            return cache.get_or_load(cache_key, load_lora, depends_on=[base_key(manifest["base"])],
                                     on_evict=Classifier.release)
        except KeyError:  # the base was evicted by another thread meanwhile: load it again
            base.detach_adapter(adapter_name)
    raise RuntimeError(f"could not keep base model {manifest['base']!r} in the model cache")


def _classifier_key(key: Hashable) -> Hashable:
    """A classifier's entry in the model cache, by its version id or artefact path."""
    return ("classifier", key)


def cached_classifier(key: Hashable, *, cache: ModelCache | None = None) -> Classifier | None:
    """The classifier loaded under ``key`` (as given to ``load_classifier``) when it is in
    memory, without touching its artefact on disk; None otherwise."""
    cache = cache if cache is not None else default_cache()
    found = cache.get(_classifier_key(key))
    return found if isinstance(found, Classifier) else None


def unload_classifier(key: Hashable, *, cache: ModelCache | None = None) -> bool:
    """Drop a classifier from the cache (its adapter leaves the shared base); ``key`` as given
    to ``load_classifier`` (or its artefact path). False if it was not loaded."""
    cache = cache if cache is not None else default_cache()
    if isinstance(key, (str, Path)) and Path(key).is_dir():
        key = str(Path(key).resolve())
    return cache.evict(_classifier_key(key))
