"""The lm-eval bridge: the capability tasks as lm-eval YAML tasks, and any lm-eval task on an in-memory model.

Each memaudit task is an lm-eval task reading rendered rows (``dataset_path: json``) with the same prompts
as the native evaluator, scored as the task's ``output_type`` says: ``generate_until`` (until a newline,
greedy) with the normalized match of ``tasks/lm_eval/utils.py``, or ``multiple_choice`` (log-likelihood,
``acc``) plus a ``_0shot`` twin. lm-eval resolves ``data_files`` against the working directory, so
:func:`write_lm_eval_tasks` writes the YAMLs with absolute paths into a folder (a temporary one at run
time), next to a copy of ``utils.py``; this works from a source checkout and from a wheel.

Unknown task names are rejected before any model work: ``memaudit_*`` names against the folder's own
YAMLs (fast); other names against lm-eval's full index (``TaskManager(include_defaults=True)``, ~40 s,
built only when such a name is asked for), with close matches suggested.
"""

from __future__ import annotations

import difflib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.capability.schema import GENERATE_UNTIL, MULTIPLE_CHOICE, Task, write_rows
from auditor.errors import ConfigError
from auditor.tasks import tasks_dir

log = logging.getLogger(__name__)

PREFIX = "memaudit_"
_METRICS = ("accuracy,none", "acc,none", "exact_match,strict-match", "exact_match,none", "acc_norm,none")


def _choice_configs(name: str, base: dict, max_new_tokens: int) -> list[dict]:
    """``multiple_choice``: log-likelihood choice (``acc``), and its ``_0shot`` twin (the 0-shot baseline)."""
    choice = {
        **base,
        "output_type": MULTIPLE_CHOICE,
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{gold}}",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    return [
        {"task": name, **choice, "doc_to_text": "{{prompt}}"},
        {"task": name + "_0shot", **choice, "doc_to_text": "{{prompt_0shot}}"},
    ]


def _generate_configs(name: str, base: dict, max_new_tokens: int) -> list[dict]:
    """``generate_until``: greedy until a newline, scored by the normalized match of ``utils.py``."""
    return [
        {
            "task": name,
            **base,
            "output_type": GENERATE_UNTIL,
            "doc_to_text": "{{prompt}}",
            "doc_to_target": "{{answers[0]}}",
            "generation_kwargs": {"until": ["\n"], "do_sample": False, "max_gen_toks": max_new_tokens},
            "process_results": "!function utils.process_results",
            "metric_list": [{"metric": "accuracy", "aggregation": "mean", "higher_is_better": True}],
        }
    ]


# a task's output_type -> its lm-eval configs
CONFIGS: dict[str, Callable[[str, dict, int], list[dict]]] = {
    GENERATE_UNTIL: _generate_configs,
    MULTIPLE_CHOICE: _choice_configs,
}


def task_configs(task: Task, data_file: str | Path, max_new_tokens: int = 16) -> list[dict]:
    """lm-eval YAML configs (as dicts) for ``task`` reading ``data_file`` (rendered rows), by its output_type."""
    base = {
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "target_delimiter": "",
        "metadata": {"version": 1.0, "family": task.family, "source": task.source},
    }
    return CONFIGS[task.output_type](PREFIX + task.name, base, max_new_tokens)


def dump_yaml(cfg: dict) -> str:
    """YAML text of a config; ``!function`` references are written as tags, not strings."""
    text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=1000)
    return text.replace("'!function utils.process_results'", "!function utils.process_results")


def write_lm_eval_tasks(
    tasks: list[Task], out_dir: str | Path, data_dir: str | Path | None = None, relative_to: str | Path | None = None
) -> list[str]:
    """Write each task's rows (``data_dir``, default ``out_dir``) and YAML configs (``out_dir``); returns names.

    ``data_files`` paths are absolute unless ``relative_to`` is given (then relative to that folder).
    """
    out_dir = Path(out_dir)
    data_dir = Path(data_dir or out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_utils(out_dir)
    names = []
    for task in tasks:
        data = write_rows(data_dir / f"{task.name}.jsonl", task).resolve()
        ref = data.relative_to(Path(relative_to).resolve()) if relative_to else data
        for cfg in task_configs(task, ref):
            (out_dir / f"{cfg['task']}.yaml").write_text(dump_yaml(cfg), encoding="utf-8")
            names.append(cfg["task"])
    return names


def absolute_copy_of_shipped(out_dir: str | Path) -> Path:
    """Copy the shipped ``tasks/lm_eval/*.yaml`` into ``out_dir`` with absolute ``data_files`` (and utils.py)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = tasks_dir().parent
    for src in sorted((tasks_dir() / "lm_eval").glob("*.yaml")):
        text = src.read_text(encoding="utf-8")
        text = text.replace("test: tasks/", f"test: {root / 'tasks'}/")
        (out_dir / src.name).write_text(text, encoding="utf-8")
    _copy_utils(out_dir)
    return out_dir


def _copy_utils(out_dir: Path) -> None:
    src = tasks_dir() / "lm_eval" / "utils.py"
    if (out_dir / "utils.py").resolve() != src.resolve():
        shutil.copyfile(src, out_dir / "utils.py")


def shipped_task_names() -> list[str]:
    return sorted(p.stem for p in (tasks_dir() / "lm_eval").glob(f"{PREFIX}*.yaml"))


def _unknown(name: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"lm_eval:{name}: unknown lm-eval task ({where}){hint}")


_INDEX: dict[str, Any] = {}  # lm-eval's full TaskManager, built once (slow) and reused for the dataset checks


def all_lm_eval_tasks() -> list[str]:
    """Every task and group name lm-eval knows (slow: indexes the built-in tasks)."""
    if "manager" not in _INDEX:
        from lm_eval.tasks import TaskManager

        _INDEX["manager"] = TaskManager(include_defaults=True)
    return list(_INDEX["manager"].all_tasks)


def check_lm_eval_tasks(names: list[str]) -> None:
    """Raise :class:`ConfigError` for any name that lm-eval (or the shipped memaudit tasks) does not know, or
    whose dataset lm-eval cannot get (offline, not in the cache)."""
    ours = [n for n in names if n.startswith(PREFIX)]
    shipped = shipped_task_names()
    for n in ours:
        if n not in shipped:
            raise _unknown(n, shipped, f"the memaudit tasks are {', '.join(shipped)}")
    others = [n for n in names if not n.startswith(PREFIX)]
    if others:
        known = all_lm_eval_tasks()
        for n in others:
            if n not in known:
                raise _unknown(n, known, "not in lm-eval's task index")
        check_offline_datasets(others, _INDEX.get("manager"))


def datasets_offline() -> bool:
    """Whether the datasets library may not download (``HF_DATASETS_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    import datasets.config

    return bool(getattr(datasets.config, "HF_HUB_OFFLINE", False) or datasets.config.HF_DATASETS_OFFLINE)


def _hub_dataset(manager: Any, name: str) -> tuple[str, str | None] | None:
    """(dataset path, config name) of task ``name`` when it reads a hub dataset; None for a group, a local or
    packaged dataset (json, csv ...), or an index lm-eval does not describe that way."""
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    entry = getattr(manager, "task_index", {}).get(name)
    cfg = getattr(entry, "cfg", None) or (entry.get("cfg") if isinstance(entry, dict) else None)
    path = cfg.get("dataset_path") if isinstance(cfg, dict) else None
    if not isinstance(path, str) or path in _PACKAGED_DATASETS_MODULES or Path(path).expanduser().exists():
        return None
    config = cfg.get("dataset_name")
    return path, config if isinstance(config, str) else None


def _offline_line(name: str, dataset: str, why: str) -> str:
    """The one line for task ``name`` whose ``dataset`` lm-eval cannot get, and how to get it."""
    return (
        f"lm_eval:{name}: its dataset {dataset} is not in the Hugging Face datasets cache ({why}); download it "
        f"into the cache on a machine with internet (python -c \"import datasets; datasets.load_dataset('{dataset}')\")"
        " and copy the cache (HF_HOME) here, or unset HF_HUB_OFFLINE/HF_DATASETS_OFFLINE where there is internet"
    )


def check_offline_datasets(names: list[str], manager: Any) -> None:
    """Offline (``HF_DATASETS_OFFLINE`` / ``HF_HUB_OFFLINE``): refuse a task whose hub dataset is not cached,
    before any model loads; lm-eval would fail on it after loading. Online, or without lm-eval's index
    (``manager`` None): nothing to check (:func:`run_lm_eval` reports a failed download in one line)."""
    if manager is None or not datasets_offline():
        return
    import datasets

    for name in names:
        found = _hub_dataset(manager, name)
        if found is None:
            continue
        path, config = found
        try:
            datasets.load_dataset_builder(path, config)  # offline: reads the cache only, downloads nothing
        except (ConnectionError, FileNotFoundError) as e:
            shown = path if config is None else f"{path}', '{config}"
            raise ConfigError(_offline_line(name, shown, "offline mode is on")) from e


@dataclass
class LmEvalResult:
    """One lm-eval task's headline accuracy, item count and per-item correctness (by doc_id)."""

    task: str
    metric: str
    accuracy: float
    n: int
    per_item: dict[int, bool]


def _lm(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_size: int):
    from lm_eval.models.huggingface import HFLM

    # The native evaluator encodes prompts with add_special_tokens=True; make lm-eval do the same.
    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, add_bos_token=True)


def run_lm_eval(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    names: list[str],
    include_path: str | Path | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    task_manager=None,
) -> dict[str, LmEvalResult]:
    """Run lm-eval tasks on an already-loaded model; returns each task's accuracy and per-item results."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    if task_manager is None:
        defaults = any(not n.startswith(PREFIX) for n in names)
        task_manager = TaskManager(include_path=str(include_path) if include_path else None, include_defaults=defaults)
    try:
        res = simple_evaluate(
            model=_lm(model, tokenizer, batch_size),
            tasks=list(names),
            task_manager=task_manager,
            limit=limit,
            log_samples=True,
            bootstrap_iters=0,
            verbosity="WARNING",
        )
    except ConnectionError as e:  # the dataset download (datasets raises the builtin ConnectionError)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(
            f"lm_eval:{','.join(names)}: cannot download its dataset ({first}); download it into the Hugging Face "
            "cache on a machine with internet and copy the cache (HF_HOME) here; set HF_DATASETS_OFFLINE=1 to "
            "fail before the model loads"
        ) from e
    out = {}
    for name in names:
        metrics = res["results"].get(name)
        if metrics is None:
            raise ConfigError(f"lm_eval:{name}: lm-eval returned no result (is it a group? name a task inside it)")
        key = next((k for k in _METRICS if k in metrics), None) or next(
            k for k, v in metrics.items() if isinstance(v, int | float) and "stderr" not in k and k != "alias"
        )
        mname = key.split(",")[0]
        samples = res.get("samples", {}).get(name, [])
        per_item = {int(s["doc_id"]): bool(s.get(mname, 0)) for s in samples}
        n = len(samples) or int(res.get("n-samples", {}).get(name, {}).get("effective", 0))
        out[name] = LmEvalResult(name, mname, float(metrics[key]), n, per_item)
    return out
