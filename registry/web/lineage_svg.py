"""Lay out an entry's lineage as columns: predecessors left, the entry, successors right.

Column ``-d`` holds predecessors ``d`` hops away, column ``+d`` successors ``d`` hops away.
A code reached at several depths stands at the nearest. Edges are curves from the right
side of a node to the left side of the next; the template draws whole links solid, part
links dashed, and the default successor bold.

Links join versions of a code on a date, not codes: the links drawn are those that
:func:`registry.services.lineage_walk.walk` reaches forward (backward) in time.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.services.queries import LinkView
from registry.web.reads import Label

NODE_W = 210
NODE_H = 48
GAP_X = 80
GAP_Y = 14
PAD = 12
MAX_DEPTH = 3
MAX_PER_COLUMN = 10
NAME_CHARS = 28


@dataclass(frozen=True)
class Node:
    """A box in the picture."""

    code: str
    name: str
    short: str
    status: str
    x: int
    y: int
    role: str  # self | predecessor | successor | more
    more: int = 0


@dataclass(frozen=True)
class Edge:
    """A link drawn between two boxes."""

    from_code: str
    to_code: str
    d: str
    kind: str
    is_default: bool
    share: float | None
    label_x: int
    label_y: int
    label_anchor: str


@dataclass(frozen=True)
class Picture:
    """Everything the SVG template needs."""

    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    links: list[LinkView]

    node_w: int = NODE_W
    node_h: int = NODE_H

    @property
    def empty(self) -> bool:
        """Whether there is nothing around the entry."""
        return not self.edges


def _columns(code: str, predecessors: list[LinkView],
             successors: list[LinkView]) -> dict[int, list[str]]:
    column_of: dict[str, int] = {code: 0}
    for links, sign, far in ((predecessors, -1, "from_code"), (successors, 1, "to_code")):
        for link in sorted(links, key=lambda lk: lk.depth):
            if link.depth > MAX_DEPTH:
                continue
            other = getattr(link, far)
            if other not in column_of:
                column_of[other] = sign * link.depth
    columns: dict[int, list[str]] = {}
    for c, col in column_of.items():
        columns.setdefault(col, []).append(c)
    return columns


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1].rstrip() + "…"


def layout(code: str, name: str, status: str, predecessors: list[LinkView],
           successors: list[LinkView], labels: dict[str, Label]) -> Picture:
    """Place the entry, its predecessors and successors, and the links between them."""
    columns = _columns(code, predecessors, successors)
    first, last = min(columns), max(columns)
    shown = {col: sorted(codes)[:MAX_PER_COLUMN] for col, codes in columns.items()}
    rows = max(len(codes) + (1 if len(columns[col]) > MAX_PER_COLUMN else 0)
               for col, codes in shown.items())
    height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y
    width = PAD * 2 + (last - first + 1) * NODE_W + (last - first) * GAP_X
    nodes: list[Node] = []
    where: dict[str, tuple[int, int]] = {}
    for col in range(first, last + 1):
        codes = shown.get(col, [])
        extra = len(columns.get(col, [])) - len(codes)
        count = len(codes) + (1 if extra > 0 else 0)
        block = count * NODE_H + (count - 1) * GAP_Y
        x = PAD + (col - first) * (NODE_W + GAP_X)
        y = (height - block) // 2
        for c in codes:
            label = labels.get(c)
            node_name = name if c == code else (label.name if label else "")
            node_status = status if c == code else (label.status if label else "retired")
            role = "self" if col == 0 else "predecessor" if col < 0 else "successor"
            nodes.append(Node(c, node_name, _short(node_name), node_status, x, y, role))
            where[c] = (x, y)
            y += NODE_H + GAP_Y
        if extra > 0:
            nodes.append(Node("", "", "", "", x, y, "more", more=extra))
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for link in [*predecessors, *successors]:
        pair = (link.from_code, link.to_code)
        if pair in seen or link.from_code not in where or link.to_code not in where:
            continue
        seen.add(pair)
        (x1, y1), (x2, y2) = where[link.from_code], where[link.to_code]
        if x2 <= x1:
            continue  # a link back to an earlier column would cross the picture
        sx, sy = x1 + NODE_W, y1 + NODE_H // 2
        tx, ty = x2, y2 + NODE_H // 2
        bend = (tx - sx) // 2
        d = f"M{sx},{sy} C{sx + bend},{sy} {tx - bend},{ty} {tx - 6},{ty}"
        # The label sits at the end away from the entry, where the edges fan out and so
        # never overlap: beside the predecessor, or before the successor.
        toward_entry = x2 <= where[code][0]
        lx, ly, anchor = (sx + 6, sy - 5, "start") if toward_entry else (tx - 10, ty - 5, "end")
        edges.append(Edge(link.from_code, link.to_code, d, link.kind, link.is_default,
                          link.share, lx, ly, anchor))
    return Picture(width, height, nodes, edges, [*predecessors, *successors])
