"""CLI conventions: the same model flags on every command that loads a model, an example per command that
parses, --limit where data is read, and --model-args reaching from_pretrained (a PEFT adapter merged)."""

from __future__ import annotations

import argparse
import shlex

import pytest
import torch

from auditor.cli.examples import EXAMPLES
from auditor.cli.main import build_parser
from auditor.errors import ConfigError
from auditor.lab.build import SHIPPED_DIR
from auditor.models.args import canonical, parse_model_args

MODEL_FLAGS = {"--device", "--dtype", "--trust-remote-code", "--allow-pickle", "--model-args",
               "--attn-implementation", "--offload"}  # fmt: skip
LOADS_A_MODEL = {  # command -> the flags it has beyond MODEL_FLAGS (why some lack one: see README "Commands")
    ("info",): {"--revision"},
    ("mia",): {"--model", "--revision", "--batch-size", "--limit"},
    ("prune",): {"--model", "--revision"},
    ("sweep",): {"--model", "--revision", "--batch-size", "--limit"},
    ("extract",): {"--model", "--revision", "--batch-size", "--limit"},
    ("exposure",): {"--model", "--revision", "--batch-size", "--limit"},
    ("forecast",): {"--revision", "--batch-size", "--limit"},
    ("generate-extract",): {"--model", "--revision", "--batch-size"},
    ("capability",): {"--model", "--revision", "--batch-size", "--limit"},
    ("unlearn",): {"--model", "--revision"},
    ("audit",): {"--model", "--revision", "--batch-size", "--limit"},
    ("demo",): {"--model", "--revision", "--batch-size", "--limit"},
    ("unlearn-compare",): {"--batch-size"},
}


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[(*path, name)] = sub
                out.update(_commands(sub, (*path, name)))
    return out


def _flags(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def test_model_loading_commands_share_the_model_flags() -> None:
    cmds = _commands(build_parser())
    for path, extra in LOADS_A_MODEL.items():
        missing = (MODEL_FLAGS | extra) - _flags(cmds[path])
        assert not missing, (path, missing)


def test_every_command_has_an_example_that_parses(capsys) -> None:
    parser = build_parser()
    cmds = _commands(parser)
    assert {" ".join(p) for p in cmds} == set(EXAMPLES)
    for path, sub in cmds.items():
        help_text = sub.format_help()
        assert "example:\n  auditor " + " ".join(path) in help_text, path
        for line in EXAMPLES[" ".join(path)].splitlines():
            argv = shlex.split(line.split("#")[0].split(";")[0].replace("LAB", str(SHIPPED_DIR)))
            assert argv[0] == "auditor" and tuple(argv[1 : 1 + len(path)]) == path, line
            a = parser.parse_args(argv[1:])  # raises UsageError on a flag that does not exist
            assert hasattr(a, "handler") or path == ("lab",) or path == ("tasks",), line


def test_top_level_help_lists_audit_and_demo_first() -> None:
    text = build_parser().format_help()
    lines = text.split("COMMAND\n", 1)[1].splitlines()
    listed = [line.split()[0] for line in lines if line[:4] == "    " and line[4] != " "]
    assert listed[:2] == ["audit", "demo"], listed


def test_model_args_are_parsed_as_yaml_scalars_and_owned_keys_refused() -> None:
    assert parse_model_args("attn_implementation=sdpa, low_cpu_mem_usage=true,max_memory=8") == {
        "attn_implementation": "sdpa", "low_cpu_mem_usage": True, "max_memory": 8}  # fmt: skip
    assert canonical("b=1,a=x") == canonical("a=x, b=1") == "a=x,b=1"
    for bad, word in (("dtype=float16", "--dtype"), ("revision=main", "--revision"), ("novalue", "key=value"),
                      ("a=1,a=2", "twice"), ("device_map=auto", "--device")):  # fmt: skip
        with pytest.raises(ConfigError, match=word):
            parse_model_args(bad)


def test_unlearn_training_batch_flag_is_not_called_batch_size() -> None:
    flags = _flags(_commands(build_parser())[("unlearn",)])
    assert "--train-batch-size" in flags and "--batch-size" not in flags


def test_peft_adapter_is_merged_into_the_loaded_weights(tiny_model_dir, tmp_path) -> None:
    import peft  # a test dependency (pyproject [test])
    from transformers import AutoModelForCausalLM

    from auditor.models.load import ModelSpec, load_model, model_identity

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    ids = torch.tensor([[1, 5, 9, 13, 17, 21]])
    with torch.no_grad():
        want = lora(ids).logits  # PEFT's own forward pass with the adapter active
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(ids).logits
    spec = ModelSpec(str(tiny_model_dir), device="cpu", model_args=f"peft={adapter}")
    lm = load_model(spec)
    with torch.no_grad():
        got = lm.model(ids).logits
    assert torch.allclose(got, want, atol=1e-5) and not torch.allclose(got, plain, atol=1e-3)
    ident = model_identity(spec)
    assert ident["model_args"] == f"peft={adapter}" and ident["adapter"]  # the adapter's content is identity
    (adapter / "adapter_config.json").write_text((adapter / "adapter_config.json").read_text() + "\n")
    assert model_identity(spec)["adapter"] != ident["adapter"]
    assert model_identity(ModelSpec(str(tiny_model_dir), device="cpu")).keys() == {"fingerprint", "dtype", "device"}
