"""The models of a forecast: their labels, roles and the fraction of training each had seen.

An early model's fraction comes from a ``checkpoint.json`` in its folder (``{"step", "total_steps",
"fraction"}``, written by ``auditor lab build --checkpoints``; ``fraction`` or else ``step / total_steps``),
else from ``--fractions`` (in the order of ``--early``), else it is unknown: a smaller model of the same
family, or a checkpoint without the file; tables and the plot then go by the order and names given. The
final model has seen all of its training (1.0) unless its own ``checkpoint.json`` says otherwise.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import ConfigError, InputError
from auditor.models.load import ModelSpec, resolve_source

log = logging.getLogger(__name__)

CHECKPOINT_JSON = "checkpoint.json"
ROLES = ("early", "final")


@dataclass(frozen=True)
class ModelEntry:
    """One model of the forecast."""

    label: str  # its name in tables, plots and examples.jsonl (from the source's last path part)
    source: str  # as given on the command line (folder, .gguf, hub id or alias)
    role: str  # early | final
    fraction: float | None  # fraction of training seen, in (0, 1]; None = unknown (e.g. a smaller model)
    fraction_from: str | None  # "checkpoint.json", "--fractions", "final" (1.0 by definition) or None


def model_folder(spec: ModelSpec) -> Path | None:
    """The local folder a source loads from (None for a hub id); nothing is loaded."""
    r = resolve_source(spec)
    return None if r.hub else Path(r.path)


def _in_unit(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and 0.0 < x <= 1.0


def checkpoint_fraction(folder: Path | None) -> float | None:
    """The fraction of training seen, from ``folder/checkpoint.json``; None when there is no such file."""
    path = None if folder is None else folder / CHECKPOINT_JSON
    if path is None or not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path} is not readable JSON; fix it or delete it (then pass --fractions)") from e
    frac = info.get("fraction") if isinstance(info, dict) else None
    if frac is None and isinstance(info, dict) and info.get("total_steps"):
        try:
            frac = float(info["step"]) / float(info["total_steps"])
        except (KeyError, TypeError, ValueError):
            frac = None
    if not _in_unit(frac):
        raise InputError(
            f"{path}: the fraction of training seen is {frac!r}, not a number in (0, 1]; fix the "
            'file ({"step", "total_steps", "fraction"}) or delete it and pass --fractions'
        )
    return float(frac)


def check_fractions(fractions: Sequence[float] | None, n_early: int) -> None:
    """ConfigError unless ``fractions`` is absent or one number in (0, 1] per early model."""
    if not fractions:
        return
    if len(fractions) != n_early:
        raise ConfigError(
            f"--fractions gives {len(fractions)} numbers for {n_early} --early models; give one per "
            "--early, in the same order"
        )
    bad = [f for f in fractions if not _in_unit(f)]
    if bad:
        raise ConfigError(f"--fractions must lie in (0, 1] (the fraction of training seen), got {bad[0]!r}")


def labels(sources: Sequence[str]) -> dict[str, str]:
    """A short unique label per distinct source: its last path part, else its last two, else the source."""
    distinct = list(dict.fromkeys(sources))
    for depth in (1, 2):
        names = {s: "/".join(Path(s.rstrip("/\\")).parts[-depth:]) or s for s in distinct}
        if len(set(names.values())) == len(distinct):
            return names
    return {s: s for s in distinct}


def model_entries(
    early: Sequence[str],
    final: str,
    fractions: Sequence[float] | None,
    folder_of: Callable[[str], Path | None],
) -> list[ModelEntry]:
    """The early models (in the order given) then the final one, each with its fraction of training seen."""
    if not early:
        raise ConfigError(
            "give at least one --early model: an early checkpoint, or a smaller model with the same tokenizer"
        )
    check_fractions(fractions, len(early))
    names = labels([*early, final])
    out = []
    for n, src in enumerate(early):
        frac, where = checkpoint_fraction(folder_of(src)), CHECKPOINT_JSON
        given = fractions[n] if fractions else None
        if frac is not None and given is not None and not math.isclose(frac, given):
            log.warning(
                "%s: %s says fraction %.4g, --fractions %.4g; using %s",
                src,
                CHECKPOINT_JSON,
                frac,
                given,
                CHECKPOINT_JSON,
            )
        if frac is None:
            frac, where = given, ("--fractions" if given is not None else None)
        out.append(ModelEntry(names[src], src, "early", frac, where))
    final_frac = checkpoint_fraction(folder_of(final))
    out.append(
        ModelEntry(
            names[final], final, "final", final_frac or 1.0, CHECKPOINT_JSON if final_frac is not None else "final"
        )
    )
    return out


def in_order(entries: Sequence[ModelEntry]) -> list[ModelEntry]:
    """The early models by fraction of training seen when every fraction is known, else in the order given."""
    early = [e for e in entries if e.role == "early"]
    if early and all(e.fraction is not None for e in early):
        return sorted(early, key=lambda e: e.fraction or 0.0)
    return early
