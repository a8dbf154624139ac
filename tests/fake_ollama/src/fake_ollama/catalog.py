"""Known model families, name normalisation, and the store of local and loaded models.

A model's metadata is derived from its name: ``gpt-oss:120b`` is the 120B variant, any other
``gpt-oss*`` (and every ``fault-*`` model) is gpt-oss:20b, ``nomic-embed-text*`` / ``all-minilm*`` /
names containing ``embed`` are embedding models, names containing ``coder`` (or ``codellama*``) are
code models that can insert (``suffix``), everything else is a generic llama-style chat model
without thinking. Copies and ``/api/create`` results inherit the source's family.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from fake_ollama.clock import FOREVER_SECONDS, rfc3339

FAULT_MODEL_PREFIX = "fault-"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*(:[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127})?$")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Static facts about one model family/size."""

    family: str
    parameter_size: str
    quantization: str
    size: int
    context_length: int
    embedding_length: int
    capabilities: tuple[str, ...]
    parameters: str = ""
    license: str = ""

    @property
    def thinks(self) -> bool:
        """gpt-oss style reasoning (``message.thinking``)."""
        return "thinking" in self.capabilities


_APACHE = "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/"
GPT_OSS_20B = ModelSpec(
    family="gptoss",
    parameter_size="20.9B",
    quantization="MXFP4",
    size=13793441244,
    context_length=131072,
    embedding_length=2880,
    capabilities=("completion", "tools", "thinking"),
    parameters="temperature 1",
    license=_APACHE,
)
GPT_OSS_120B = dataclasses.replace(GPT_OSS_20B, parameter_size="116.8B", size=65369818941)
NOMIC_EMBED = ModelSpec("nomic-bert", "137M", "F16", 274302450, 2048, 768, ("embedding",))
MINILM = ModelSpec("bert", "23M", "F16", 45960996, 512, 384, ("embedding",))
GENERIC = ModelSpec("llama", "3.2B", "Q4_K_M", 2019393189, 131072, 3072, ("completion", "tools"))
# Code models whose template uses ``.Suffix`` have Ollama's ``insert`` capability (FIM).
CODER = dataclasses.replace(GENERIC, family="qwen2", capabilities=("completion", "tools", "insert"))


def normalize(name: str) -> str:
    """Canonical short name: ``library/`` prefix dropped, ``:latest`` added when no tag."""
    for prefix in ("registry.ollama.ai/library/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def full_name(name: str) -> str:
    """The name real Ollama prints in capability errors: ``registry.ollama.ai/library/m:tag``.

    Ollama's ``scheduleRunner`` (server/routes.go) prefixes ``model.Name``, the fully qualified
    name (host, namespace, model, tag), to ``does not support <capability>``.
    """
    short = normalize(name)
    parts = short.split("/")
    if len(parts) == 1:
        parts = ["library", *parts]
    if len(parts) == 2:
        parts = ["registry.ollama.ai", *parts]
    return "/".join(parts)


def is_valid_name(name: str) -> bool:
    """True when ``name`` looks like ``[namespace/]model[:tag]``."""
    return bool(_NAME_RE.match(name))


def is_fault_model(name: str) -> bool:
    """``fault-<name>`` models exist for chat/generate/embed but are never listed."""
    return name.startswith(FAULT_MODEL_PREFIX)


def spec_for(name: str) -> ModelSpec:
    """Family facts inferred from a model name (see module docstring)."""
    base, _, tag = normalize(name).partition(":")
    if base.startswith("gpt-oss"):
        return GPT_OSS_120B if tag.startswith("120b") else GPT_OSS_20B
    if is_fault_model(base):
        return GPT_OSS_20B
    if base.startswith("all-minilm"):
        return MINILM
    if "embed" in base:
        return NOMIC_EMBED
    if "coder" in base or base.startswith("codellama"):
        return CODER
    return GENERIC


def digest_of(name: str) -> str:
    """Stable 64-hex digest for a model name."""
    return hashlib.sha256(normalize(name).encode()).hexdigest()


def details(spec: ModelSpec) -> dict[str, Any]:
    """The ``details`` object shared by tags, ps and show."""
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization,
    }


@dataclass(slots=True)
class LocalModel:
    """One model in the local store."""

    name: str
    spec: ModelSpec
    modified_ns: int
    digest: str
    system: str = ""
    extra_parameters: dict[str, Any] = field(default_factory=dict)

    def tag_entry(self) -> dict[str, Any]:
        """Entry of ``/api/tags``."""
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": rfc3339(self.modified_ns),
            "size": self.spec.size,
            "digest": self.digest,
            "details": details(self.spec),
        }


class ModelStore:
    """Local models (``/api/tags``) and loaded models with their expiry (``/api/ps``)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.models: dict[str, LocalModel] = {}
        self._loaded: dict[str, float] = {}  # name -> expiry (time.time())
        self.replace_all(names)

    def replace_all(self, names: tuple[str, ...]) -> None:
        """Make exactly ``names`` present (older first) and unload everything."""
        self.models.clear()
        self._loaded.clear()
        now = time.time_ns()
        for offset, name in enumerate(reversed(names)):
            self.add(name, modified_ns=now - (offset + 1) * 60_000_000_000)

    def add(self, name: str, *, source: LocalModel | None = None, modified_ns: int = 0) -> None:
        """Add (or refresh) a model; ``source`` gives the family of copies/created models."""
        key = normalize(name)
        model = LocalModel(
            key,
            source.spec if source else spec_for(key),
            modified_ns or time.time_ns(),
            source.digest if source else digest_of(key),
        )
        if source:
            model.system = source.system
            model.extra_parameters = dict(source.extra_parameters)
        self.models[key] = model

    def get(self, name: str) -> LocalModel | None:
        """The local model called ``name`` (normalised), if present."""
        return self.models.get(normalize(name))

    def delete(self, name: str) -> bool:
        """Remove a model; False when it was absent."""
        key = normalize(name)
        self._loaded.pop(key, None)
        return self.models.pop(key, None) is not None

    def touch_loaded(self, name: str, keep_alive_s: float) -> None:
        """Mark a model loaded until ``keep_alive_s`` from now (0 unloads it)."""
        key = normalize(name)
        if keep_alive_s <= 0:
            self._loaded.pop(key, None)
        else:
            self._loaded[key] = time.time() + min(keep_alive_s, FOREVER_SECONDS)

    def loaded(self) -> list[tuple[str, float]]:
        """Loaded (name, expiry) pairs, longest remaining keep-alive first; expired ones dropped."""
        now = time.time()
        for name in [n for n, expiry in self._loaded.items() if expiry <= now]:
            del self._loaded[name]
        return sorted(self._loaded.items(), key=lambda item: -item[1])
