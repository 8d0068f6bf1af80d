#!/usr/bin/env python3
"""Render a terminal capture (text with ANSI SGR colour codes) as a self-contained HTML page that
looks like a dark terminal, for a headless-browser screenshot (scripts/screenshot.sh).

  ansi2html.py --title TITLE < capture.txt > page.html

Handles what journey prints: bold, dim, the 8 + 8 bright foreground colours and reset. Any other
escape sequence is dropped.
"""
import argparse
import html
import re
import sys

# A calm dark palette (Tango-like); index = SGR 30-37, bright = SGR 90-97.
COLORS = ["#2e3436", "#ef2929", "#8ae234", "#fce94f", "#729fcf", "#ad7fa8", "#34e2e2", "#d3d7cf"]
BRIGHT = ["#555753", "#ff6b6b", "#a6f06a", "#fff176", "#9ec5f5", "#d7a6d0", "#7ff5f5", "#eeeeec"]
SGR = re.compile(r"\x1b\[([0-9;]*)m")
OTHER = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b\][^\x07]*\x07")


def render(text):
    out, bold, dim, fg = [], False, False, None
    pos = 0
    text = OTHER.sub("", text.replace("\r\n", "\n").replace("\r", ""))

    def span(chunk):
        if not chunk:
            return
        style = []
        if bold:
            style.append("font-weight:bold")
        if dim:
            style.append("opacity:0.6")
        if fg:
            style.append("color:" + fg)
        esc = html.escape(chunk)
        out.append(f'<span style="{";".join(style)}">{esc}</span>' if style else esc)

    for m in SGR.finditer(text):
        span(text[pos:m.start()])
        pos = m.end()
        for code in [int(c) if c else 0 for c in m.group(1).split(";")]:
            if code == 0:
                bold, dim, fg = False, False, None
            elif code == 1:
                bold = True
            elif code == 2:
                dim = True
            elif code == 22:
                bold = dim = False
            elif 30 <= code <= 37:
                fg = COLORS[code - 30]
            elif 90 <= code <= 97:
                fg = BRIGHT[code - 90]
            elif code == 39:
                fg = None
    span(text[pos:])
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--title", default="journey")
    args = ap.parse_args()
    body = render(sys.stdin.read()).rstrip("\n")
    sys.stdout.write(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(args.title)}</title>
<style>
  html, body {{ margin: 0; background: #1e1f22; }}
  .win {{ margin: 16px; border-radius: 8px; background: #2b2d31; box-shadow: 0 4px 16px #0008; }}
  .bar {{ padding: 8px 12px; color: #b5b8bd; font: 13px sans-serif; border-bottom: 1px solid #3a3d42; }}
  .bar b {{ display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 6px; }}
  pre {{ margin: 0; padding: 12px 16px 16px; color: #e6e6e6; font: 14px/1.35 "DejaVu Sans Mono", monospace;
         white-space: pre; }}
</style></head>
<body><div class="win"><div class="bar"><b style="background:#ff5f57"></b><b style="background:#febc2e"></b><b style="background:#28c840"></b>&nbsp;{html.escape(args.title)}</div>
<pre id="out">{body}</pre></div></body></html>
""")


if __name__ == "__main__":
    main()
