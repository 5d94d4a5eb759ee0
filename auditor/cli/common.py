"""What every command group shares: the parser and help style, model / batch / data flags, ``--set`` overrides.

Command groups import this module (never :mod:`auditor.cli.main`). Only light modules are imported here, so
``auditor --help`` does not load torch.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from auditor.cli.overrides import batch_size_arg, batch_size_type, flag_overrides, yaml_value  # noqa: F401
from auditor.errors import AuditorError
from auditor.models.options import ModelOptions, ModelSpec, option_names

if TYPE_CHECKING:
    from auditor.store.runs import RunDir

Handler = Callable[[argparse.Namespace], int]

DTYPES = ("float32", "bfloat16", "float16")
DEVICE_HELP = "cpu, cuda, cuda:N, auto (device_map='auto' across GPUs) or mps"
_DEVICE = re.compile(r"(cpu|cuda|cuda:\d+|auto|mps)")


class UsageError(AuditorError):
    """A command line argparse rejects (unknown flag, bad value, missing argument); the message is the whole line."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise :class:`UsageError`: ``main`` prints them as one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to a flag's help unless the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or (isinstance(default, list | tuple) and not default)
            or (not action.option_strings and action.nargs not in ("?", "*"))
        ):
            return text
        return f"{text} (default: %(default)s)".lstrip()

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Descriptions are wrapped; a block of indented lines (an epilog's example commands) is kept as is."""
        if "\n  " not in text:
            return super()._fill_text(text, width, indent)
        return "\n".join(indent + line for line in text.splitlines())


def add_command(sub: argparse._SubParsersAction, name: str, handler: Handler | None, **kwargs: Any) -> Parser:
    """A subcommand parser with the shared help style; ``handler`` is what ``main`` runs for it."""
    from auditor.cli.examples import epilog

    kwargs.setdefault("description", kwargs.get("help"))
    path = f"{sub._prog_prefix} {name}".split(" ", 1)[1]  # "auditor lab build" -> "lab build"
    kwargs.setdefault("epilog", epilog(path))
    p = sub.add_parser(name, formatter_class=HelpFormatter, **kwargs)
    if handler is not None:
        p.set_defaults(handler=handler)
    return p


# ---------------------------------------------------------------- value types (argparse ``type=``)


def device_type(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"unknown device {value!r}; use {DEVICE_HELP}")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``minimum``."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = None
        if n is None or n < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {value!r}")
        return n

    parse.__name__ = f"integer >= {minimum}"
    return parse


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)  # seeds, counts where 0 means "off"


def float_in(
    low: float | None = None, high: float | None = None, *, open_low: bool = False, open_high: bool = False
) -> Callable[[str], float]:
    """An argparse ``type``: a finite number (never nan or inf) within the bounds given (closed unless open_*)."""
    parts = [
        f"{'>' if open_low else '>='} {low:g}" if low is not None else "",
        f"{'<' if open_high else '<='} {high:g}" if high is not None else "",
    ]
    where = " and ".join(x for x in parts if x)
    text = f"a finite number{' ' + where if where else ''}"

    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            x = math.nan
        bad_low = low is not None and (x <= low if open_low else x < low)
        bad_high = high is not None and (x >= high if open_high else x > high)
        if not math.isfinite(x) or bad_low or bad_high:
            raise argparse.ArgumentTypeError(f"must be {text}, got {value!r}")
        return x

    parse.__name__ = text
    return parse


finite_float = float_in()
positive_float = float_in(0.0, open_low=True)
nonneg_float = float_in(0.0)
fraction = float_in(0.0, 1.0)  # [0, 1]
unit_fraction = float_in(0.0, 1.0, open_low=True)  # (0, 1], e.g. top-p


def csv_type(item: type = str) -> Callable[[str], list]:
    """A comma-separated list of ``item`` (str, int or float; floats finite); empty entries dropped."""

    def parse(value: str) -> list:
        try:
            out = [item(x.strip()) for x in value.split(",") if x.strip()]
        except ValueError as e:
            kind = {int: "whole numbers", float: "numbers"}.get(item, "values")
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind}, e.g. 1,2; got {value!r}") from e
        if item is float and not all(math.isfinite(x) for x in out):
            raise argparse.ArgumentTypeError(f"expected finite numbers (no nan or inf), got {value!r}")
        return out

    parse.__name__ = f"comma-separated {item.__name__}"
    return parse


# ---------------------------------------------------------------- shared flags


def add_model_args(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, *, cache_dir: bool = True, revision: bool = True
) -> None:
    """The model flags, declared once: one per :class:`~auditor.models.options.ModelOptions` field, named as
    the field (``--attn-implementation`` sets ``attn_implementation``), batch size aside (:func:`add_batch_size`,
    whose default differs per command); :func:`model_options` reads them back. ``revision=False``: no
    ``--revision`` (a command whose checkpoints carry their own); ``cache_dir=False``: no ``--cache-dir``."""
    if revision:
        p.add_argument("--revision", help="hub revision (branch, tag or commit) for a hub id")
    add_device_dtype(p)
    p.add_argument(
        "--trust-remote-code", action="store_true", help="run the checkpoint's own Python code (off by default)"
    )
    p.add_argument("--allow-pickle", action="store_true", help="allow .bin (pickle) weights; default: safetensors only")
    if cache_dir:
        p.add_argument(
            "--cache-dir", help="cache for converted checkpoints (default ~/.cache/memaudit or $MEMAUDIT_CACHE)"
        )


_model_args = add_model_args  # the name older callers import


def add_device_dtype(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--dtype, --device, --attn-implementation, --offload, --model-args: the part of :func:`add_model_args`
    that says how the weights are loaded (for a command that declares the other model flags itself)."""
    p.add_argument("--dtype", choices=DTYPES, help="weights dtype (default: float32 on CPU, bfloat16/float16 on GPU)")
    p.add_argument(
        "--device", type=device_type, metavar="DEVICE", help=f"{DEVICE_HELP}; default: cuda if available, else cpu"
    )
    p.add_argument(
        "--attn-implementation",
        metavar="NAME",
        help="attention kernel passed to from_pretrained: eager, sdpa, flash_attention_2, ... "
        "(default: the checkpoint's / transformers' choice)",
    )
    p.add_argument(
        "--offload",
        action="store_true",
        help="a model bigger than the GPU: what does not fit stays in CPU memory (then disk) and "
        "each layer is brought to the GPU for its forward pass (accelerate; no pruning)",
    )
    p.add_argument(
        "--model-args",
        metavar="K=V,...",
        help="more from_pretrained options, e.g. low_cpu_mem_usage=true or peft=ADAPTER_DIR (a PEFT/LoRA "
        "adapter, merged into the weights; needs `pip install peft`)",
    )


def model_option_keys(*, revision: bool = True) -> tuple[tuple[str, str], ...]:
    """(flag attribute, config key) for every model option (the same name): the part of a command's
    flag-to-key mapping that :func:`flag_overrides` reads for a config that inherits ModelOptions."""
    return tuple((k, k) for k in option_names() if revision or k != "revision")


def add_batch_size(p: argparse.ArgumentParser, default: str | None = "auto", what: str = "texts per batch") -> None:
    """--batch-size N | auto. ``default=None``: left out means the config's value."""
    text = f"{what}, or auto (start large, halve on out-of-memory)"
    if default is None:
        text += "; default: the config's"
    p.add_argument("--batch-size", type=batch_size_type, default=default, metavar="N|auto", help=text)


def add_data_columns(p: argparse.ArgumentParser, *, text: bool = True, ids: bool = True) -> None:
    if text:
        p.add_argument("--text-column", default="text", help="column holding the texts")
    if ids:
        p.add_argument("--id-column", default="id", help="column holding the ids")


def add_set(p: argparse.ArgumentParser, overwrite: bool = True) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeat)")
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help="start the run directory again")


def model_options(a: argparse.Namespace) -> ModelOptions:
    """The :class:`ModelOptions` the model flags give (a flag absent or not given: the option's default)."""
    values = {k: getattr(a, k) for k in option_names() if getattr(a, k, None) is not None}
    if "batch_size" in values:
        values["batch_size"] = batch_size_arg(values["batch_size"])
    return ModelOptions(**values)


def model_spec(a: argparse.Namespace, source: str) -> ModelSpec:
    """The ModelSpec for ``source`` from the model flags (absent flags: the loader's defaults)."""
    return model_options(a).spec_for(source, cache_dir=getattr(a, "cache_dir", None))


_model_spec = model_spec  # the name older callers import


def open_run(a: argparse.Namespace, config: dict, models: dict[str, str | None], **manifest: object) -> RunDir:
    """The command's run directory, opened (or resumed, or refused) before any model loads; call it after the
    command's own checks of its input, so a bad input leaves no folder behind.

    Its identity: ``config``, the content of every file it names, and for each model in ``models``
    (label -> source) the checkpoint fingerprint, dtype and device class. The identity binds once the folder
    holds a measurement: if the command then fails before its first record (the model does not load), the
    corrected command reuses the folder (:class:`~auditor.store.runs.RunDir`).
    """
    from auditor.pipeline.runid import run_identity
    from auditor.store.runs import RunDir

    specs = {label: model_spec(a, src) for label, src in models.items() if src}
    identity, sources = run_identity(config, specs)
    return RunDir(a.out, config, overwrite=a.overwrite, identity=identity, sources=sources, extra_manifest=manifest)
