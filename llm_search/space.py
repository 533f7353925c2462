"""Search spaces: Tune domains <-> neutral parameter specs.

A :class:`SearchSpace` is what the rest of the library reasons about. It is built from a Tune
``param_space`` (nested dicts of ``tune.uniform`` & co.), knows every parameter's bounds, scale and
quantization, and can

* sample a configuration (the random fallback),
* validate an untrusted proposal (cast, clip, snap, or reject with a reason),
* describe itself for a prompt, and
* export a JSON schema (API backends) or a grammar (the embedded model, see ``grammar.py``).

Nested keys are flattened to ``"a/b"`` names: that is the form the LLM sees and answers in. Values
are read along the space's own names, so a dict at a parameter's name (``tune.choice`` of dicts) is
that parameter's value, not more keys.

Example:
    >>> from ray import tune
    >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1),
    ...                                "opt": tune.choice(["sgd", "adam"]), "epochs": 3})
    >>> flat, problems = space.validate({"lr": 0.5, "opt": "ADAM"})
    >>> flat, [p.kind for p in problems]
    ({'lr': 0.1, 'opt': 'adam'}, ['clipped', 'cast'])
    >>> space.to_config(flat)
    {'lr': 0.1, 'opt': 'adam', 'epochs': 3}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from llm_search.params import (  # noqa: F401  (re-exported: the space's public vocabulary)
    CategoricalParam,
    FloatParam,
    IntParam,
    NormalParam,
    Param,
    Problem,
    Rejected,
    canonical_json,
    json_label,
)

SEP = "/"

UNSUPPORTED_GRID = (
    "LLMSearcher does not support tune.grid_search (at {name!r}): a searcher proposes points, it does "
    "not expand grids. Use tune.choice({values!r}) instead."
)
UNSUPPORTED_SAMPLE_FROM = (
    "LLMSearcher does not support tune.sample_from / lambda domains (at {name!r}): the LLM cannot see "
    "or invert an arbitrary function. Replace it with a tune.choice, tune.uniform or a constant."
)
UNSUPPORTED_DOMAIN = "LLMSearcher cannot handle the domain {domain!r} at {name!r}."


@dataclass
class SearchSpace:
    """An ordered set of parameters plus the constants that pass through untouched."""

    params: list[Param]
    constants: dict[str, Any] = field(default_factory=dict)
    # Nested structure of the original config: name -> path of keys.
    paths: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {p.name: p for p in self.params}
        for name in list(self._by_name) + list(self.constants):
            self.paths.setdefault(name, tuple(name.split(SEP)))
        # Names of the nested dicts that hold parameters ("a" and "a/b" for "a/b/c").
        parts = [name.split(SEP) for name in list(self._by_name) + list(self.constants)]
        self._prefixes = {SEP.join(p[:i]) for p in parts for i in range(1, len(p))}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tune(cls, config: Mapping[str, Any]) -> "SearchSpace":
        """Build from a Tune ``param_space``; raises ``ValueError`` on unsupported domains."""
        from ray.tune.search import sample  # Ray is a core dependency; imported here for fast imports

        params: list[Param] = []
        constants: dict[str, Any] = {}
        paths: dict[str, tuple] = {}

        def visit(node: Any, path: tuple) -> None:
            name = SEP.join(str(k) for k in path)
            if isinstance(node, Mapping) and "grid_search" in node and len(node) == 1:
                raise ValueError(UNSUPPORTED_GRID.format(name=name, values=list(node["grid_search"])))
            if isinstance(node, Mapping) and not isinstance(node, sample.Domain):
                if not node and path:
                    constants[name], paths[name] = {}, path
                for key, child in node.items():
                    visit(child, path + (key,))
                return
            if isinstance(node, sample.Domain):
                params.append(_param_from_domain(name, node, sample))
                paths[name] = path
                return
            if isinstance(node, (list, tuple)) and any(isinstance(v, sample.Domain) for v in node):
                raise ValueError(f"Search domains inside lists are not supported (at {name!r}): use a dict of domains.")
            if callable(node) and not isinstance(node, type):
                raise ValueError(UNSUPPORTED_SAMPLE_FROM.format(name=name))
            constants[name], paths[name] = node, path

        visit(dict(config), ())
        names = [p.name for p in params] + list(constants)
        if len(set(names)) != len(names):
            raise ValueError(f"Two config keys flatten to the same name with {SEP!r}: rename one of {names}.")
        return cls(params=params, constants=constants, paths=paths)

    # ------------------------------------------------------------------ queries
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __len__(self) -> int:
        return len(self.params)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A random flat configuration, drawn the way Tune's random search would."""
        return {p.name: p.sample(rng) for p in self.params}

    def validate(self, proposal: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
        """Check one untrusted proposal (flat ``"a/b"`` keys or nested dicts).

        Returns ``(flat_config, problems)``; ``flat_config`` is None when any problem is fatal.
        """
        if not isinstance(proposal, Mapping):
            return None, [Problem("<config>", "rejected", f"expected a JSON object, got {type(proposal).__name__}")]
        flat = self._flatten(proposal)
        problems: list[Problem] = []
        result: dict[str, Any] = {}
        for param in self.params:
            if param.name not in flat:
                problems.append(Problem(param.name, "rejected", "missing"))
                continue
            try:
                value, fixes = param.coerce(flat[param.name])
            except Rejected as exc:
                problems.append(Problem(param.name, "rejected", str(exc)))
                continue
            result[param.name] = value
            problems.extend(fixes)
        for key in flat:
            if key not in self._by_name and key not in self.constants:
                problems.append(Problem(key, "ignored", "not a parameter of the search space"))
        if any(p.fatal for p in problems):
            return None, problems
        return result, problems

    def key(self, flat: Mapping[str, Any]) -> str:
        """A canonical identity for duplicate detection, at each parameter's own resolution.

        Each parameter's ``key`` (``params.py``): floats map to the nearest of 10,001 evenly spaced points
        across their range (``KEY_BUCKETS`` steps), on their own scale (linear or log); quantized floats
        and integers keep their exact step; ``tune.randn`` values go in steps of ``sd / 1000``;
        categories by their JSON label. So a narrow range keeps many distinct keys, and values nearer to
        the same point of the range than to any other count as one configuration:

        >>> from ray import tune
        >>> space = SearchSpace.from_tune({"beta": tune.uniform(0.999, 0.9999)})
        >>> len({space.key({"beta": 0.999 + 0.0009 * i / 1000}) for i in range(1001)})
        1001
        >>> space.key({"beta": 0.99945}), space.key({"beta": 0.99945 + 1e-9})
        ('{"beta":5000}', '{"beta":5000}')
        """
        return canonical_json({p.name: p.key(flat.get(p.name)) for p in self.params})

    def to_config(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """Nested Tune config from a flat one, with the constants put back."""
        config: dict[str, Any] = {}
        for name, path in self.paths.items():  # the original key order
            if name in self.constants:
                value = self.constants[name]
            elif name in flat:
                value = flat[name]
            else:
                continue
            node = config
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        return config

    def from_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Flat parameter values from a nested config (constants dropped, unknown keys ignored)."""
        flat = self._flatten(config)
        return {name: flat[name] for name in self.names if name in flat}

    def _flatten(self, node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """Flat ``"a/b"`` names -> values of a flat, nested or mixed mapping, read along the space's names.

        A key that names a parameter or constant holds its whole value, even a dict (``tune.choice`` of
        dicts); only a dict at a key that merely leads to names is walked into. Any other key is kept
        under its flat name, for ``validate`` to report.
        """
        flat: dict[str, Any] = {}
        for key, value in node.items():
            name = f"{prefix}{key}"
            known = name in self._by_name or name in self.constants
            if not known and name in self._prefixes and isinstance(value, Mapping):
                flat.update(self._flatten(value, name + SEP))
            else:
                flat[name] = value
        return flat

    def describe(self) -> str:
        """One line per parameter, for the prompt."""
        return "\n".join(f"- {p.name}: {p.describe()}" for p in self.params)

    def json_schema(self, n_configs: int) -> dict:
        """JSON schema of the answer ``{"configs": [config x n_configs]}``."""
        item = {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "required": self.names,
            "additionalProperties": False,
        }
        return {
            "type": "object",
            "properties": {"configs": {"type": "array", "items": item, "minItems": n_configs, "maxItems": n_configs}},
            "required": ["configs"],
            "additionalProperties": False,
        }


def _param_from_domain(name: str, domain: Any, sample: Any) -> Param:
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, sample.Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
    if isinstance(domain, sample.Categorical):
        if not domain.categories:
            raise ValueError(f"tune.choice at {name!r} has no categories.")
        return CategoricalParam(name, tuple(domain.categories))
    if isinstance(domain, sample.Float):
        if isinstance(sampler, sample.Normal):
            return NormalParam(name, float(sampler.mean), float(sampler.sd), q=q)
        log = isinstance(sampler, sample.LogUniform)
        return FloatParam(name, float(domain.lower), float(domain.upper), log=log, q=q)
    if isinstance(domain, sample.Integer):
        log = isinstance(sampler, sample.LogUniform)
        low, high = int(domain.lower), int(domain.upper)
        # Tune: randint/lograndint upper bounds are exclusive; quantized ones are inclusive unless q == 1.
        if q is None or q == 1:
            high -= 1
            q = None
        if high < low:
            raise ValueError(f"The integer domain at {name!r} is empty ({domain.lower}..{domain.upper}).")
        return IntParam(name, low, high, log=log, q=int(q) if q else None)
    if isinstance(domain, sample.Function):
        raise ValueError(UNSUPPORTED_SAMPLE_FROM.format(name=name))
    raise ValueError(UNSUPPORTED_DOMAIN.format(domain=domain, name=name))
