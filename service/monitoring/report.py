"""`python -m service.monitoring.report`: a self-contained HTML drift report (inline SVG).

Reads the drift report from a running service (GET /v1/monitoring/drift) or from a saved JSON file
and draws, per quantity, the reference and live shares per bin side by side, with each method's
value and whether it is flagged.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_REF, _LIVE = "#7f8c8d", "#d35400"


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def bars_svg(labels: Sequence[str], reference: Sequence[int], live: Sequence[int]) -> str:
    ref, cur = _shares(reference), _shares(live)
    n = max(len(labels), 1)
    width, height, pad = 640, 180, 24
    slot = (width - 2 * pad) / n
    top = max([*ref, *cur, 1e-9])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
        f'role="img" aria-label="reference and live shares per bin">'
    ]
    for i, label in enumerate(labels):
        x = pad + i * slot
        for j, (share, colour) in enumerate(
            ((ref[i] if ref else 0, _REF), (cur[i] if cur else 0, _LIVE))
        ):
            h = (height - pad) * share / top
            parts.append(
                f'<rect x="{x + j * slot / 2:.1f}" y="{height - h:.1f}" width="{slot / 2 - 1:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{html.escape(label)}: '
                f"{'reference' if j == 0 else 'live'} {share:.1%}</title></rect>"
            )
        if n <= 8 or i % max(1, n // 6) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height + 14}" font-size="10">{html.escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    title = f"reviewguard drift, window {report.get('window', '?')}"
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
        ".drift{color:#c0392b;font-weight:bold}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if report.get("reference") is None:
        out.append(f"<p>{html.escape(str(report.get('message', 'no reference profile')))}</p>")
        out.append("</body></html>")
        return "".join(out)
    drifted = report.get("drifted", [])
    out.append(
        f"<p>Drifted: <span class='drift'>{html.escape(', '.join(drifted)) or 'none'}</span>. "
        f"Reference: {html.escape(json.dumps(report['reference'].get('text_model_version')))}, "
        f"{report['reference'].get('n_reviews', '?')} reviews. Thresholds: "
        f"{html.escape(json.dumps(report.get('thresholds', {})))}. "
        f"<span style='color:{_REF}'>&#9632; reference</span> "
        f"<span style='color:{_LIVE}'>&#9632; live</span></p>"
    )
    out.append(
        "<table><tr><th>quantity</th><th>status</th><th>live n</th><th>PSI</th>"
        "<th>JS distance</th><th>Wasserstein / std</th></tr>"
    )
    for name, q in report["quantities"].items():
        m = q.get("methods", {})
        cls = " class='drift'" if q.get("drifted") else ""
        cells = "".join(
            f"<td>{m[k]:.3f}</td>" if k in m else "<td></td>"
            for k in ("psi", "jensenshannon", "wasserstein")
        )
        out.append(
            f"<tr><td><a href='#{html.escape(name)}'>{html.escape(name)}</a></td>"
            f"<td{cls}>{html.escape(q.get('status', ''))}</td><td>{q.get('live_count', 0)}</td>"
            f"{cells}</tr>"
        )
    out.append("</table>")
    for name, q in report["quantities"].items():
        flag = " <span class='drift'>drift</span>" if q.get("drifted") else ""
        out.append(
            f"<h2 id='{html.escape(name)}'>{html.escape(name)}{flag}</h2>"
            f"<p>primary method {html.escape(q['primary_method'])}, threshold {q['threshold']}; "
            f"reference n={q['reference_count']}, live n={q['live_count']}</p>"
        )
        out.append(bars_svg(q["labels"], q["reference"], q["live"]))
    out.append("</body></html>")
    return "\n".join(out)


def fetch(url: str, window: str, api_key: str | None) -> dict[str, Any]:
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/monitoring/drift?window={window}")
    if api_key:
        request.add_header("X-API-Key", api_key)
    with urllib.request.urlopen(request, timeout=30) as response:
        loaded: dict[str, Any] = json.loads(response.read())
        return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.monitoring.report", description=__doc__
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="base URL of a running service, e.g. http://localhost:8000")
    source.add_argument("--json", type=Path, help="a saved GET /v1/monitoring/drift answer")
    parser.add_argument("--window", choices=("1h", "24h"), default="24h")
    parser.add_argument("--api-key", help="when the service wants one (else $REVIEWGUARD_API_KEY)")
    parser.add_argument("-o", "--out", type=Path, default=Path("drift-report.html"))
    args = parser.parse_args(argv)
    if args.json:
        report = json.loads(args.json.read_text(encoding="utf-8"))
    else:
        report = fetch(args.url, args.window, args.api_key or os.environ.get("REVIEWGUARD_API_KEY"))
    args.out.write_text(render_html(report), encoding="utf-8")
    print(f"wrote {args.out} (drifted: {', '.join(report.get('drifted', [])) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
