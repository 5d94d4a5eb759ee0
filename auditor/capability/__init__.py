"""Capability tasks: fact recall vs in-context learning under pruning (Jin et al. 2024, ICLR).

Modules: ``schema`` (task items, rendering, k-shot fitting), ``normalize`` (SQuAD-style answer match),
``icl`` (in-context linear classification episodes), ``real`` (countries and elements, fictional and
counterfactual items), ``userfile`` (user JSONL tasks), ``builders`` (lab / real / file sources and the
``capability:`` config), ``evaluate`` (native batched evaluator), ``lmeval`` (lm-eval bridge), ``runner``
(families at a sweep point, as records), ``curves`` (accuracy under pruning and Jin et al.'s 5% thresholds,
for ``capability.json`` and the report), ``analysis`` (``capability.json``, ``curves.png``). A task declares
how it is scored (``schema.OUTPUT_TYPES``: lm-eval's ``generate_until`` or ``multiple_choice``).
"""
