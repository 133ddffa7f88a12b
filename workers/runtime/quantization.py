"""Int8 inference on the CPU: a classifier's encoder and head exported to ONNX, quantized
dynamically to int8 with ONNX Runtime, and served only once it has matched fp32 on labelled
rows.

The precision is chosen per deployment (``INFERENCE_PRECISION``: ``fp32``, the default, or
``int8``) and applied by ``load_classifier(precision="int8", validation_rows=...)``, which calls
``serve_int8`` once per loaded classifier:

1. The int8 artefact is built once, beside the model's files (``<artefact>/int8/``): a fresh fp32
   copy of the encoder (a LoRA adapter merged into it, so the graph has no adapter branches;
   never the shared base in memory, which other tenants' adapters are attached to) plus the
   head's linear layer, exported with the TorchScript-based ``torch.onnx.export``
   (``dynamo=False``; dynamic batch and sequence axes; transformers 5's BERT exports as is),
   then ``quantize_dynamic`` (int8 weights per output channel, activations quantized on the
   fly). The folder is written to a temporary sibling and swapped in whole, like the artefact
   itself, and carries a fingerprint of the files it was made from, so a changed artefact is
   rebuilt, never served stale.
2. Validation before serving: the fp32 and the int8 model classify the same labelled rows (the
   version's own test rows, or a fixed sample of at most ``VALIDATION_ROWS``); int8 serves only
   when its macro-F1 is within ``MAX_MACRO_F1_DELTA`` (0.5 points) of fp32's and the two agree
   on at least ``MIN_AGREEMENT`` of the rows. Otherwise, or without rows to check it on, or when
   the export fails, the worker logs a warning and serves fp32. The verdict is stored beside
   the int8 model (keyed by the rows' digest), so a restarted worker does not run it again.

Measured (``bench/int8.py``, same batches, on a 2-core machine loaded by other jobs): the int8
forward of the shipped finance default is 3.6x-5.7x its fp32 torch forward, its macro-F1 on
the sentiment test file 0.055 points below fp32 (the shipped bot head on BANKING77's: 0.22);
per-channel weights kept the pooled vectors at 0.992 mean cosine to fp32, against 0.962 per
tensor, for the same speed.

Dynamic quantization scales each activation tensor by its own range, so a text's figures
depend slightly on the other texts of its batch (and their padding): int8 is deterministic for
a given batch, not across batchings, which the validation's agreement bar accounts for.

What stays fp32: training, embeddings, and the shared forward pass of head-only classifiers in
``classify_and_embed_many`` (its vectors are also the retrieval embeddings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from workers.runtime.device import configure_threads
from workers.runtime.evaluation import evaluate_labels

if TYPE_CHECKING:
    from workers.runtime.classifier.model import Classifier

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8")
INT8_DIR = "int8"
MODEL_FILE = "model.onnx"
INFO_FILE = "int8.json"
VALIDATION_FILE = "validation.json"
INT8_FORMAT = 1
MAX_MACRO_F1_DELTA = 0.005  # 0.5 points of macro-F1, either way
MIN_AGREEMENT = 0.97  # share of rows where int8 and fp32 predict the same label
# Enough for whole test files: on a 1,000-row sample of BANKING77's (77 intents, ~13 rows
# each) the shipped bot head's int8 macro-F1 read 0.68 points below fp32, on all 3,080 rows
# 0.22 (agreement 0.989 both times): few rows per class make macro-F1 noisy.
VALIDATION_ROWS = 5000
ONNX_OPSET = 17
#: the artefact's files whose bytes the int8 model is made from
SOURCE_FILES = ("manifest.json", "head.safetensors", "adapter/adapter_model.safetensors",
                "model/model.safetensors")

Rows = tuple[list[str], list[str]]  # (texts, labels)


@dataclass(frozen=True)
class Int8Validation:
    """The fp32 and int8 figures on the same rows, and whether int8 may serve."""

    rows: int
    fp32_macro_f1: float
    int8_macro_f1: float
    agreement: float
    passed: bool

    @property
    def macro_f1_delta(self) -> float:
        return self.int8_macro_f1 - self.fp32_macro_f1


class QuantizedForward:
    """An ONNX Runtime session giving a classifier's logits from token ids and a mask; its
    intra-op threads follow the torch thread setting (``AIPLATFORM_TORCH_THREADS``)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or configure_threads()
        options.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        (out,) = self.session.run(None, {"input_ids": input_ids.cpu().numpy(),
                                         "attention_mask": attention_mask.cpu().numpy()})
        return torch.from_numpy(out)


class _LogitsModule(nn.Module):
    """Encoder and the head's linear layer as one module: what is exported."""

    def __init__(self, encoder: nn.Module, linear: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.linear = linear

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.linear(self.encoder(input_ids, attention_mask))


def fingerprint(directory: Path) -> str:
    """A digest of the artefact files an int8 model is made from."""
    digest = hashlib.sha256()
    for name in SOURCE_FILES:
        path = directory / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _fp32_encoder(directory: Path, manifest: dict[str, Any]) -> nn.Module:
    """A fresh fp32 copy of the artefact's encoder on the CPU (a LoRA adapter merged in)."""
    from workers.runtime.base_models import ENCODER_CLASSES, _import_attr, load_encoder, quiet_peft
    from workers.runtime.device import DeviceConfig

    cpu = DeviceConfig(torch.device("cpu"))
    if manifest["method"] == "full":
        encoder = _import_attr(ENCODER_CLASSES[manifest.get("pooling", "mean")]).load(
            str(directory / "model"), cpu)
    else:
        encoder = load_encoder(manifest["base"], cpu)
    if manifest["method"] == "lora":
        from peft import PeftModel

        with quiet_peft():
            peft = PeftModel.from_pretrained(encoder.model, str(directory / "adapter"),
                                             is_trainable=False)
            encoder.model = peft.merge_and_unload()
    return encoder.eval()


def _export(module: nn.Module, path: Path, vocab_ids: tuple[int, int]) -> None:
    example_ids = torch.randint(*vocab_ids, (2, 16), dtype=torch.int64)
    example_mask = torch.ones_like(example_ids)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "logits": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's warnings about Python-side branches
        torch.onnx.export(module, (example_ids, example_mask), str(path),
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes=axes, opset_version=ONNX_OPSET, dynamo=False)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs a hint about pre-processing on the root logger; the export needs none.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                         per_channel=True)
    finally:
        root.setLevel(level)


def int8_model(directory: Path, classifier: Classifier) -> Path:
    """``<artefact>/int8/model.onnx``, built on the first call for this artefact (see the
    module doc); a concurrent builder's copy, when it was first, is kept."""
    directory = Path(directory)
    target = directory / INT8_DIR
    source = fingerprint(directory)
    if _info(target).get("source") == source and (target / MODEL_FILE).is_file():
        return target / MODEL_FILE
    tmp = directory / f".{INT8_DIR}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        encoder = _fp32_encoder(directory, classifier.manifest)
        linear = nn.Linear(classifier.head.linear.in_features, len(classifier.labels))
        linear.load_state_dict(classifier.head.linear.state_dict())
        vocab = int(getattr(classifier.base.tokenizer, "vocab_size", 1000))
        _export(_LogitsModule(encoder, linear.float().cpu()).eval(), tmp / "fp32.onnx",
                (min(100, vocab - 1), vocab))
        _quantize(tmp / "fp32.onnx", tmp / MODEL_FILE)
        (tmp / "fp32.onnx").unlink()
        (tmp / INFO_FILE).write_text(json.dumps({
            "format": INT8_FORMAT, "source": source, "weights": "int8 per channel",
            "activations": "dynamic", "opset": ONNX_OPSET}, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:  # another worker was first: its copy is made from the same files
            if _info(target).get("source") != source:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / MODEL_FILE


def _info(folder: Path) -> dict[str, Any]:
    try:
        found = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def validation_sample(rows: Rows, limit: int = VALIDATION_ROWS) -> Rows:
    """At most ``limit`` of the rows, a fixed sample (the same rows every time)."""
    texts, labels = rows
    if len(texts) <= limit:
        return list(texts), list(labels)
    keep = np.sort(np.random.default_rng(0).choice(len(texts), size=limit, replace=False))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def rows_digest(rows: Rows) -> str:
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def validate_int8(classifier: Classifier, forward: QuantizedForward, rows: Rows, *,
                  max_delta: float = MAX_MACRO_F1_DELTA,
                  min_agreement: float = MIN_AGREEMENT) -> Int8Validation:
    """fp32 (the classifier as it is) against ``forward`` on the same rows."""
    texts, labels = rows
    previous = classifier.int8
    try:
        classifier.int8 = None
        fp32 = classifier.probabilities(texts).argmax(axis=1)
        classifier.int8 = forward
        int8 = classifier.probabilities(texts).argmax(axis=1)
    finally:
        classifier.int8 = previous
    names = classifier.labels
    fp32_f1 = evaluate_labels(labels, [names[i] for i in fp32], names)["macro_f1"]
    int8_f1 = evaluate_labels(labels, [names[i] for i in int8], names)["macro_f1"]
    agreement = float(np.mean(fp32 == int8)) if len(texts) else 0.0
    passed = bool(texts) and abs(int8_f1 - fp32_f1) <= max_delta and agreement >= min_agreement
    return Int8Validation(len(texts), round(fp32_f1, 6), round(int8_f1, 6), round(agreement, 6),
                          passed)


def serve_int8(classifier: Classifier, directory: Path,
               validation_rows: Callable[[], Rows | None] | None) -> Int8Validation | None:
    """Switch ``classifier`` to its int8 model when it passes validation (see the module
    doc); return the verdict, None when int8 could not even be tried. It serves fp32, with a
    warning, whenever int8 does not pass."""
    name = classifier.manifest.get("base", str(directory))
    try:
        rows = validation_rows() if validation_rows is not None else None
        if not rows or not rows[0]:
            logger.warning("int8: no labelled rows to validate %s on; serving fp32", directory)
            return None
        rows = validation_sample(rows)
        path = int8_model(Path(directory), classifier)
        forward = QuantizedForward(path)
    except Exception:  # noqa: BLE001 - int8 is an optimisation: fp32 still serves
        logger.warning("int8: could not build the int8 model of %s (%s); serving fp32",
                       directory, name, exc_info=True)
        return None
    digest = rows_digest(rows)
    verdict = _stored_verdict(path.parent, digest)
    if verdict is None:
        verdict = validate_int8(classifier, forward, rows)
        _store_verdict(path.parent, digest, verdict)
    if verdict.passed:
        classifier.int8 = forward
        logger.info("int8: serving %s (macro-F1 %+.4f vs fp32, agreement %.4f on %d rows)",
                    directory, verdict.macro_f1_delta, verdict.agreement, verdict.rows)
    else:
        logger.warning("int8: %s failed validation (macro-F1 %.4f vs fp32 %.4f, agreement "
                       "%.4f on %d rows); serving fp32", directory, verdict.int8_macro_f1,
                       verdict.fp32_macro_f1, verdict.agreement, verdict.rows)
    return verdict


def _stored_verdict(folder: Path, digest: str) -> Int8Validation | None:
    try:
        stored = json.loads((folder / VALIDATION_FILE).read_text(encoding="utf-8"))
        if stored.get("rows_sha256") != digest:
            return None
        return Int8Validation(**{key: stored[key] for key in (
            "rows", "fp32_macro_f1", "int8_macro_f1", "agreement", "passed")})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store_verdict(folder: Path, digest: str, verdict: Int8Validation) -> None:
    tmp = folder / f".{VALIDATION_FILE}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps({**asdict(verdict), "rows_sha256": digest}, indent=1),
                       encoding="utf-8")
        tmp.replace(folder / VALIDATION_FILE)
    except OSError:  # a read-only artefact folder: the verdict is recomputed next time
        tmp.unlink(missing_ok=True)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return precision

