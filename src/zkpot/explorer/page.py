"""One self-contained HTML page for a :class:`~zkpot.explorer.view.ChainView`: no scripts,
no external assets; every value is escaped."""

from __future__ import annotations

from html import escape

from zkpot.explorer.view import BlockView, ChainView, SubmissionRow

__all__ = ["render"]

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
code, .hash { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
table { border-collapse: collapse; margin: .5em 0; width: 100%; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.n { text-align: right; }
.chain { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.block { border: 2px solid #3a7; border-radius: 6px; padding: 6px 10px; min-width: 14em; }
.block.skipped { border-color: #c84; background: #fff8ef; }
.arrow { font-size: 20px; color: #888; }
.refused { color: #a22; }
"""


def _fmt(value: object, spec: str = "") -> str:
    return "-" if value is None else escape(format(value, spec))


def _short(value: str) -> str:
    return escape(value if len(value) <= 20 else f"{value[:10]}…{value[-8:]}")


def _block_card(b: BlockView) -> str:
    cls = "block skipped" if b.skipped else "block"
    leader = "skipped: previous model carries over" if b.skipped else f"leader {b.leader}"
    return (
        f'<div class="{cls}" id="block-{b.round}" data-hash="{escape(b.hash)}">'
        f"<b>round {b.round}</b><br>{escape(leader)}<br>"
        f'<span class="hash" title="{escape(b.hash)}">{_short(b.hash)}</span><br>'
        f"global proven {b.global_count}/{b.num_samples}</div>"
    )


def _chain(view: ChainView) -> str:
    parts = [f'<div class="block"><b>genesis</b><br><span class="hash">{_short(view.genesis)}'
             "</span></div>"]  # fmt: skip
    for b in view.blocks:
        parts.append('<span class="arrow">&rarr;</span>' + _block_card(b))
    return f'<div class="chain">{"".join(parts)}</div>'


def _blocks_table(view: ChainView) -> str:
    rows = "".join(
        f"<tr><td>{b.round}</td><td class=hash>{escape(b.hash)}</td>"
        f"<td class=hash>{escape(b.parent)}</td><td>{escape(b.leader)}</td>"
        f"<td class=n>{b.leader_count}/{b.num_samples}</td>"
        f"<td class=n>{b.global_count}/{b.num_samples}</td>"
        f"<td class=n>{_fmt(b.global_accuracy, '.4f')}</td>"
        f"<td class=hash>{escape(b.global_cid)}</td>"
        f"<td class=n>{_fmt(b.propose_gas, ',')}</td>"
        f"<td>{escape(', '.join(b.passed_over)) or '-'}</td></tr>"
        for b in view.blocks
    )
    head = (
        "<tr><th>round</th><th>block hash</th><th>parent</th><th>leader</th>"
        "<th>leader proven</th><th>global proven</th><th>global accuracy</th>"
        "<th>global model CID</th><th>proposal gas</th><th>leader turns passed</th></tr>"
    )
    return f'<table id="blocks">{head}{rows}</table>'


def _submission_row(s: SubmissionRow) -> str:
    refused = " refused" if s.status.startswith("not") else ""
    return (
        f"<tr><td>{escape(s.participant)}</td><td class=n>{_fmt(s.count)}</td>"
        f"<td class=hash>{_fmt(s.commitment)}</td><td class=hash>{_fmt(s.cid)}</td>"
        f"<td class=n>{_fmt(s.prove_s, '.2f')}</td><td class=n>{_fmt(s.submit_gas, ',')}</td>"
        f"<td class=n>{_fmt(s.handover_gas, ',')}</td>"
        f'<td class="{refused.strip()}">{escape(s.status)}</td></tr>'
    )


def _round(view: ChainView, k: int) -> str:
    head = (
        "<tr><th>participant</th><th>proven count</th><th>commitment</th><th>model CID</th>"
        "<th>prove s</th><th>submit gas</th><th>hand-over gas</th><th>status</th></tr>"
    )
    rows = "".join(_submission_row(s) for s in view.submissions.get(k, []))
    block = next((b for b in view.blocks if b.round == k), None)
    notes = []
    if block is not None and block.rejected:
        notes.append(
            "left out of the aggregate: " + ", ".join(f"{w} ({r})" for w, r in block.rejected)
        )
    for who, layer, rule, detail in view.refusals.get(k, []):
        notes.append(
            f"{who}: refused by the {layer}, rule {rule}" + (f" ({detail})" if detail else "")
        )
    listed = "".join(f'<li class="refused">{escape(n)}</li>' for n in notes)
    return f'<h3 id="round-{k}">round {k}</h3><table>{head}{rows}</table>' + (
        f"<ul>{listed}</ul>" if listed else ""
    )


def _plot(view: ChainView, width: int = 640, height: int = 260) -> str:
    """An SVG line chart of every accuracy series against the round."""
    series = {k: v for k, v in view.accuracy.items() if any(x is not None for x in v)}
    if not series:
        return "<p>no accuracy recorded</p>"
    rounds = max(len(v) for v in series.values())
    pad = 40

    def xy(i: int, a: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / max(rounds - 1, 1))
        return x, height - pad - (height - 2 * pad) * a

    colours = ["#2a7", "#c62", "#36c", "#a3a"]
    out = [f'<svg id="accuracy" width="{width}" height="{height}" role="img" '
           'aria-label="accuracy per round" style="border:1px solid #ddd">']  # fmt: skip
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0, tick)
        out.append(f'<line x1="{pad}" x2="{width - pad}" y1="{y}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="4" y="{y + 4}" font-size="10">{tick:.2f}</text>')
    for i in range(rounds):
        x, _ = xy(i, 0)
        out.append(f'<text x="{x - 3}" y="{height - pad + 14}" font-size="10">{i}</text>')
    for n, (name, values) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        points = [xy(i, a) for i, a in enumerate(values) if a is not None]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        out.append(
            f'<text x="{pad + 8}" y="{14 + 13 * n}" font-size="11" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def render(view: ChainView) -> str:
    """The whole page."""
    facts = "".join(
        f"<tr><th>{escape(k)}</th><td class=hash>{escape(v)}</td></tr>"
        for k, v in view.facts.items()
    )
    rounds = "".join(_round(view, k) for k in sorted(view.submissions))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>zkpot explorer: {escape(view.title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>zkpot explorer: {escape(view.title)}</h1><table>{facts}</table>"
        f"<h2>Chain</h2>{_chain(view)}{_blocks_table(view)}"
        f"<h2>Accuracy</h2>{_plot(view)}"
        f"<h2>Rounds</h2>{rounds}</body></html>\n"
    )
