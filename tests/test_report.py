from __future__ import annotations

from auditor.report import render_html, render_markdown


def test_model_and_data_strings_are_escaped_in_html():
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    records = [
        {
            "family": "mia",
            "task": evil,
            "metric": "auc",
            "value": 0.5,
            "ci": [0.4, 0.6],
            "n": 3,
            "method": "dense",
            "sparsity": 0.0,
        }
    ]
    html = render_html(evil, records, {"config": {"model": evil}}, [evil])
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "| 0.5000 | [0.400, 0.600] |" in render_markdown("t", records, {}, [])
