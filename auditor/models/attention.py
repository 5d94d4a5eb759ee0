"""``--attn-implementation``: refuse before loading a kernel that cannot run here, in one line with the fix.

Names are checked against transformers' own list (``eager``, ``sdpa``, ``flex_attention``,
``flash_attention_2`` ...) or the hub-kernel pattern ``org/name``. A FlashAttention name needs its package,
unless transformers can fetch the hub kernel it falls back to (the ``kernels`` package installed, and the hub
reachable or the kernel already in the cache); a hub kernel needs the ``kernels`` package likewise.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from auditor.errors import ConfigError

# FlashAttention name -> (the module transformers imports, how to install it)
FLASH = {
    "flash_attention_2": ("flash_attn", "pip install flash-attn"),
    "flash_attention_3": (
        "flash_attn_interface",
        "install FlashAttention-3 (flash-attn-3, from flash-attention's hopper/)",
    ),
    "flash_attention_4": ("flash_attn", "pip install flash-attn-4"),
}
HUB_KERNEL = re.compile(r"^[^/:]+/[^/:]+(?:@[^/:]+)?(?::[^/:]+)?$")  # transformers' pattern for a hub kernel
FALLBACK = "or use --attn-implementation sdpa (or eager)"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found, not imported)."""
    return importlib.util.find_spec(module) is not None


def known_implementations() -> list[str] | None:
    """The attention names the installed transformers registers (``eager`` included), or None if it cannot say."""
    try:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    except ImportError:
        return None
    try:
        keys = list(ALL_ATTENTION_FUNCTIONS.valid_keys())
    except AttributeError:
        return None
    return ["eager", *(k for k in keys if k != "eager")]


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE``)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _kernel_cached(repo: str) -> bool:
    """Whether hub repo ``repo`` has a folder in the HF hub cache."""
    from huggingface_hub import constants

    return (Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))).is_dir()


def _hub_kernel_usable(repo: str | None) -> bool:
    """Whether transformers can fetch hub kernel ``repo``: the kernels package, and the hub or the cache."""
    if not installed("kernels"):
        return False
    return not hub_offline() or (repo is not None and _kernel_cached(repo.split("@")[0].split(":")[0]))


def _flash_fallback(name: str) -> str | None:
    """The hub kernel transformers uses for ``name`` when its package is missing, or None."""
    try:
        from transformers.modeling_flash_attention_utils import FLASH_ATTN_KERNEL_FALLBACK
    except ImportError:
        return None
    return FLASH_ATTN_KERNEL_FALLBACK.get(name)


def check_attn_implementation(name: str) -> None:
    """Raise :class:`ConfigError` (one line, with the fix) for an attention kernel that cannot load here."""
    base = name.removeprefix("paged|")
    if base in FLASH:
        module, install = FLASH[base]
        if not installed(module) and not _hub_kernel_usable(_flash_fallback(base)):
            raise ConfigError(
                f"--attn-implementation {name}: the {module} package is not installed (and its hub kernel cannot "
                f"be fetched: no kernels package, or HF_HUB_OFFLINE=1); {install}, {FALLBACK}"
            )
        return
    if "/" in base and HUB_KERNEL.match(base):
        if not _hub_kernel_usable(base):
            raise ConfigError(
                f"--attn-implementation {name}: a hub kernel needs the kernels package (pip install kernels) and the "
                f"hub (or the kernel in the HF cache, fetched where you are online), {FALLBACK}"
            )
        return
    known = known_implementations()
    if known is not None and name not in known and base not in known:
        raise ConfigError(
            f"--attn-implementation {name}: unknown attention implementation; use one of: {', '.join(known)} "
            "(or a hub kernel org/name)"
        )
