"""The report page's stylesheet: readable from a phone (390 px) to a desktop.

Wide tables sit in a horizontally scrolling box (``.scroll``) so they never widen the page; the first
screen's figure cards stack into one column under 600 px (long gate paths wrap anywhere inside a card),
and images shrink to the screen's width.
"""

STYLE = (
    "*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;"
    "padding:0 1em;line-height:1.4}h1{font-size:1.6em;margin:.2em 0 .6em}h2{border-bottom:2px solid #ddd;"
    "padding-bottom:.2em;margin-top:2em}.scroll{overflow-x:auto;max-width:100%;margin:.6em 0 1.2em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}"
    "img{max-width:100%;height:auto;border:1px solid #eee}.pass{color:#0a6b0a;font-weight:bold}"
    ".fail{color:#b00020;font-weight:bold}.inconclusive{color:#8a5a00;font-weight:bold}"
    ".muted{color:#666}td.text{max-width:600px;word-break:break-word}"
    ".verdict{border:2px solid #999;border-radius:8px;padding:.8em 1em;margin:0 0 1em;background:#fafafa}"
    ".verdict.pass{border-color:#0a6b0a;background:#effaef}.verdict.fail{border-color:#b00020;background:#fdf0f2}"
    ".verdict .status{font-size:1.5em;margin:0 0 .3em}.facts{margin:0;color:#333;font-weight:normal}"
    ".facts span{display:inline-block;margin-right:1.2em}.facts code{word-break:break-all}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:.8em;margin:.6em 0 1.2em}"
    ".card{border:1px solid #ccc;border-radius:8px;padding:.6em .8em;background:#fff;min-width:0;"
    "overflow-wrap:anywhere}"
    ".card.fail{border-color:#b00020;font-weight:normal}.card.pass{border-color:#0a6b0a;font-weight:normal}"
    ".card.inconclusive{border-color:#c77d00;font-weight:normal}"
    ".card .badge{font-weight:bold;font-size:.85em}.card .name{font-weight:600}.card .value{font-size:1.6em;"
    "font-weight:600;color:#222}.card .line{font-size:.9em;color:#444}.card .meaning{font-size:.9em;color:#555;"
    "margin:.3em 0 0}.gallery{display:flex;flex-wrap:wrap;gap:.8em}.gallery img{max-width:min(100%,560px)}"
    "details{margin:.6em 0 1.2em}summary{cursor:pointer;font-weight:600}"
    "@media (max-width:600px){body{margin:.6em auto;padding:0 .5em;font-size:15px}h1{font-size:1.3em}"
    ".cards{grid-template-columns:1fr}.gallery img{max-width:100%}td,th{padding:2px 5px}}"
)
