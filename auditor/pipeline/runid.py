"""A run's identity before any model loads: input file hashes, checkpoint fingerprints, dtype, device class.

:class:`~auditor.store.runs.RunDir` resumes a folder only for the same identity, so an edited members file, a
checkpoint replaced at the same path, or another ``--dtype`` or device is refused before loading.
"""

from __future__ import annotations

from pathlib import Path

from auditor.models.load import LoadedModel, ModelSpec, model_identity, resolve_source
from auditor.store.identity import inputs_identity


def loaded_identity(lm: LoadedModel) -> dict[str, str]:
    """The identity of a model already in memory (the Python API): its fingerprint, dtype and device class."""
    p = next(lm.model.parameters())
    return {"fingerprint": lm.fingerprint, "dtype": str(p.dtype).replace("torch.", ""), "device": p.device.type}


def run_identity(
    config: dict,
    specs: dict[str, ModelSpec],
    lab: Path | None = None,
    loaded: dict[str, LoadedModel] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """(identity, model folders read) of a run: every file ``config`` names by content, the lab, and per
    checkpoint label its fingerprint, dtype and device class (from ``loaded`` where already in memory)."""
    identity = inputs_identity(config, {"lab": lab} if lab else None)
    sources: list[str] = []
    for label, spec in specs.items():
        if loaded and label in loaded:
            ident = loaded_identity(loaded[label])
        else:
            r = resolve_source(spec)
            ident = model_identity(spec, r)
            if not r.hub:
                sources.append(r.path if r.gguf_file is None else str(Path(r.path) / r.gguf_file))
        identity |= {f"checkpoint.{label}.{k}": v for k, v in ident.items()}
    return identity, sources
