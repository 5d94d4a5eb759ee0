"""lm-eval task configs for the capability families (YAML) and their metric hook (``utils.py``)."""
