"""One worked example per command, shown at the end of its ``--help`` (the epilog), as lm-eval's CLI does.

Every example runs on files in this repository or the shipped lab; ``LAB`` stands for the lab folder
(``auditor/lab/standard``) and ``M`` for a model folder, hub id or alias.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "audit": "auditor audit tasks/configs/audit-example.yaml --model ./my-checkpoint --device cuda\n"
    "auditor audit my-audit.yaml --limit 200          # a quick first pass",
    "demo": "auditor demo --out reports/demo              # the shipped lab; resumes if interrupted",
    "report": "auditor report reports/demo                 # member texts redacted\n"
    "auditor report reports/demo --no-redact     # full texts, for your own eyes only",
    "gate": "auditor gate reports/demo --policy tasks/configs/policy-example.yaml; echo $?",
    "unlearn-compare": "auditor unlearn-compare tasks/configs/unlearn-lab.yaml --set out=reports/unlearn",
    "lab": "auditor lab build --preset micro --out /tmp/lab\nauditor lab build --preset smollm2",
    "lab build": "auditor lab build --preset micro --out /tmp/lab --seed 1",
    "info": "auditor info lab\nauditor info ./my-checkpoint --device cpu",
    "mia": "auditor mia --model lab --members LAB/members.jsonl --nonmembers LAB/nonmembers.jsonl "
    "--out reports/mia --blind",
    "prune": "auditor prune --model lab --method wanda --sparsity 0.5 --calibration LAB/calibration.jsonl "
    "--out /tmp/lab-wanda50",
    "sweep": "auditor sweep --model lab --families mia,extraction,fact_recall --methods magnitude,wanda "
    "--sparsities 0,0.2,0.4,0.6 --out reports/sweep",
    "extract": "auditor extract --model lab --data LAB/members.jsonl --prefix-lens 8,16,32 --suffix-len 32 "
    "--out reports/extract",
    "exposure": "auditor exposure --model lab --canaries LAB/canaries.jsonl --out reports/exposure",
    "generate-extract": "auditor generate-extract --model lab --corpus LAB/members.jsonl --samples 200 "
    "--out reports/untargeted",
    "forecast": "auditor forecast --early lab:retrain --final lab --data LAB/members.jsonl --data LAB/canaries.jsonl "
    "--prefix-len 16 --suffix-len 16 --out reports/forecast   # see docs/forecast.md for lab checkpoints",
    "dupcount": "auditor dupcount --data LAB/canaries.jsonl --corpus LAB/members.jsonl --out /tmp/dup.jsonl",
    "tasks": "auditor tasks build --source real --out /tmp/tasks",
    "tasks build": "auditor tasks build --source lab --limit 20 --out /tmp/tasks",
    "capability": "auditor capability --model lab --lab LAB --out reports/capability --limit 50",
    "unlearn": "auditor unlearn --model lab --method npo --forget LAB/forget.jsonl --retain LAB/retain.jsonl "
    "--out /tmp/lab-npo",
}


def epilog(command: str) -> str | None:  # command: "audit", "lab build", ...
    """The ``--help`` epilog of ``command``: its example, indented so the help formatter keeps its lines."""
    text = EXAMPLES.get(command)
    if text is None:
        return None
    return "example:\n" + "\n".join(f"  {line}" for line in text.splitlines())
