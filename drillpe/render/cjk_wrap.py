"""Line breaking for text a terminal shows: Chinese mixed with formulas and
code, and code inside English sentences.

Rich breaks lines only at spaces, so a Chinese paragraph (no spaces) is one
"word": it breaks early, splits formulas at their inner spaces, and puts a
full-width comma or full stop at the start of a line. Here a line may break
between any two Han characters, never before closing punctuation (，。；：）…),
never after opening punctuation (（「《), never inside an inline code span
(`...`), and never inside a formula, a run of Latin text between Chinese
characters that holds an operator (n = |r|, x * cos + rotate(x) * sin), unless
the formula alone is wider than the line. English text is left to rich, except
in a scorecard's diagnoses and verdict (:class:`Broken`): there a line breaks
at no space inside brackets either, since rich broke a fix such as
stack([-x[..., 1::2], x[..., 0::2]], -1) after its "x[...," and what a
learner copied from the terminal was no longer code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.measure import Measurement
from rich.text import Text

HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# full-width forms, CJK symbols and punctuation: each one a character of its own
WIDE = re.compile(r"[\u3000-\u303f\uff00-\uffef\u3400-\u9fff\uf900-\ufaff]")
NO_LINE_START = set("，。、；：！？）」』】》〉’”…—％,.;:!?)]}")
NO_LINE_END = set("（「『【《〈‘“([{")
OPENING, CLOSING = "([{", ")]}"
OPERATOR = re.compile(r"[=+\-−*/^<>≤≥→·×|∑Σ√]")
PROSE = re.compile(r"(?<![\w.])[A-Za-z]+ [A-Za-z]+ [A-Za-z]+(?![\w(\[])")
LONE_OPERATOR = re.compile(r"[=+\-−*/^<>≤≥→×|%]{1,3}|!=")
# Python's word operators are also English words: they bind only between two operands
# that read as code ("r > 0 and r < L"), not in prose ("pairs, and write ...")
WORD_OPERATOR = re.compile(r"in|and|or|not")
CODE_OPERAND = re.compile(r"[A-Za-z]|[\w.]*[\d_()\[\]][\w.()\[\]]*")
# "…" and "—" are not split off: inside a formula ([0, 2, …, d − 1]) they belong to it
TOKEN = re.compile(r"`[^`\n]*`|\s+|[\u3000-\u303f\uff00-\uffef\u3400-\u9fff\uf900-\ufaff“”‘’]"
                   r"|[^\s`\u3000-\u303f\uff00-\uffef\u3400-\u9fff\uf900-\ufaff“”‘’]+")


def has_cjk(text: str) -> bool:
    return bool(HAN.search(text))


@dataclass
class _Atom:
    text: str
    space: bool  # a space separates it from the atom before
    latin: bool  # a piece of Latin text (a word, a number, a formula token)


def _atoms(line: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    space = False
    for token in TOKEN.findall(line):
        if token.isspace():
            space = True
            continue
        latin = not WIDE.fullmatch(token) and not token.startswith("`")
        atoms.append(_Atom(token, space, latin))
        space = False
    return atoms


def _bracketed(atoms: list[_Atom]) -> list[_Atom]:
    """What stands inside ASCII brackets stays with them when it is code: code
    reads as code only whole (``stack([-x[..., 1::2], x[..., 0::2]], -1)``). A
    bracket of prose (three plain words in a row: "(shorter than L / ...)")
    breaks as prose. Only Latin atoms are joined; anything else (a Han
    character, a code span) ends the run, so an unclosed bracket holds on to no
    more than its own sentence."""
    joined: list[_Atom] = []
    group: list[_Atom] = []
    depth = 0

    def close() -> None:
        text = " ".join(a.text for a in group)
        if len(group) > 1 and not PROSE.search(text):
            whole = group[0].text
            for atom in group[1:]:
                whole += (" " if atom.space else "") + atom.text
            joined.append(_Atom(whole, group[0].space, True))
        else:
            joined.extend(group)
        group.clear()

    for atom in atoms:
        if not atom.latin:
            if group:
                close()
            depth = 0
            joined.append(atom)
            continue
        before = depth
        depth = max(0, depth + sum(map(atom.text.count, OPENING))
                    - sum(map(atom.text.count, CLOSING)))
        if before == 0 and depth == 0:
            joined.append(atom)
        else:
            group.append(atom)
            if depth == 0:
                close()
    if group:
        close()
    return joined


def _joined_by_operators(atoms: list[_Atom]) -> list[_Atom]:
    """An operator standing alone (x2 = stack(...), r > 0, half - 1, d ** -1) binds
    the Latin atoms on both sides of it into one: in English prose (one long run
    of Latin words) _formulas cannot tell a formula's extent."""
    joined: list[_Atom] = []
    bind_next = False
    for n, atom in enumerate(atoms):
        alone = atom.latin and (LONE_OPERATOR.fullmatch(atom.text) is not None or (
            WORD_OPERATOR.fullmatch(atom.text) is not None and 0 < n < len(atoms) - 1
            and all(CODE_OPERAND.fullmatch(side.text) for side in (atoms[n - 1], atoms[n + 1]))))
        if joined and joined[-1].latin and atom.latin and (alone or bind_next):
            last = joined[-1]
            joined[-1] = _Atom(last.text + (" " if atom.space else "") + atom.text, last.space,
                               True)
        else:
            joined.append(atom)
        bind_next = alone
    return joined


def _formulas(atoms: list[_Atom], width: int) -> list[_Atom]:
    """Join each run of Latin atoms separated only by spaces into one atom when
    the run holds an operator: a formula reads as one unit (if it fits a line)."""
    joined: list[_Atom] = []
    i = 0
    while i < len(atoms):
        j = i + 1
        if atoms[i].latin:
            while j < len(atoms) and atoms[j].latin and atoms[j].space:
                j += 1
        run = atoms[i:j]
        text = " ".join(a.text for a in run)
        if len(run) > 1 and OPERATOR.search(text) and cell_len(text) <= width:
            joined.append(_Atom(text, run[0].space, True))
        else:
            joined.extend(run)
        i = j
    return joined


def _glued(atoms: list[_Atom]) -> list[_Atom]:
    """Closing punctuation sticks to the atom before it, opening punctuation to
    the atom after it, so neither can stand at the wrong end of a line."""
    glued: list[_Atom] = []
    pending_open: _Atom | None = None
    for atom in atoms:
        if pending_open is not None:
            atom = _Atom(pending_open.text + (" " if atom.space else "") + atom.text,
                         pending_open.space, atom.latin)
            pending_open = None
        if atom.text in NO_LINE_END:
            pending_open = atom
            continue
        if glued and atom.text[0] in NO_LINE_START and not atom.space:
            last = glued[-1]
            glued[-1] = _Atom(last.text + atom.text, last.space, last.latin)
            continue
        glued.append(atom)
    if pending_open is not None:
        glued.append(pending_open)
    return glued


def _outer_split(text: str) -> list[str]:
    """``text`` split at its spaces in the fewest brackets: outside them, else
    inside one pair (``trunc(log(n / m) / log(M / m) * (half - m))`` breaks
    around its ``/`` and ``*``, keeping ``(half - m)`` whole), and so on."""
    depths, depth = [], 0
    for char in text:
        depth = max(0, depth + (char in OPENING) - (char in CLOSING))
        depths.append(depth if char == " " else None)
    at = min((d for d in depths if d is not None), default=0)
    words, start = [], 0
    for i, d in enumerate(depths):
        if d == at:
            words.append(text[start:i])
            start = i + 1
    words.append(text[start:])
    return words


def _hard_split(text: str, width: int) -> list[str]:
    pieces, current = [], ""
    for char in text:
        if current and cell_len(current + char) > width:
            pieces.append(current)
            current = ""
        current += char
    return [*pieces, current] if current else pieces


def wrap_line(line: str, width: int, hang: int | None = None, brackets: bool = False
              ) -> list[str]:
    """One paragraph line broken into lines of at most ``width`` cells. Lines
    after the first are indented like it, or by ``hang`` spaces; with
    ``brackets``, no line breaks inside ASCII brackets (see _bracketed)."""
    atoms = _atoms(line)
    if brackets:
        atoms = _joined_by_operators(_bracketed(atoms))
    indent = line[: len(line) - len(line.lstrip(" "))]
    return _fill(atoms, width, indent, indent if hang is None else " " * hang)


def _fill(atoms: list[_Atom], width: int, indent: str, cont: str, formulas: bool = True
          ) -> list[str]:
    """``atoms`` placed on lines of at most ``width`` cells: the first line starts
    with ``indent``, the others with ``cont``; with ``formulas``, a run of Latin
    atoms that holds an operator is kept together where it fits a line."""
    width = max(1, width)
    lines: list[str] = []
    current = indent

    def room() -> int:  # on the line the next atom that does not fit goes to
        return max(1, width - len(cont if lines or current.strip() else indent))

    def place(atom: _Atom) -> None:
        nonlocal current
        gap = " " if atom.space and current.strip() else ""
        if cell_len(current + gap + atom.text) <= width:
            current += gap + atom.text
            return
        if cell_len(atom.text) > room() and " " in atom.text:
            # a formula that with its punctuation is wider than a line breaks at its
            # own spaces, outside its brackets where it has such; the punctuation
            # stays with its last word
            for k, word in enumerate(_outer_split(atom.text)):
                place(_Atom(word, atom.space if k == 0 else True, atom.latin))
            return
        if current.strip():
            lines.append(current)
            current = cont
        if cell_len(atom.text) > room():  # one word wider than a line: cut it
            *full, last = _hard_split(atom.text, room())
            lines.extend(current + piece for piece in full[:1])
            lines.extend(cont + piece for piece in full[1:])
            current = (cont if full else current) + last
        else:
            current = current + atom.text

    for atom in _glued(_formulas(atoms, max(1, width - len(cont))) if formulas else atoms):
        place(atom)
    if current.strip() or not lines:
        lines.append(current)
    return lines


def wrap(text: str, width: int, brackets: bool = False) -> list[str]:
    """Every line of ``text`` wrapped at ``width`` cells; line breaks already in
    the text are kept, and an indented line (code) is never re-wrapped.
    ``brackets``: as wrap_line's."""
    lines: list[str] = []
    for line in text.splitlines() or [""]:
        if line.startswith("    ") or not line.strip():
            lines.append(line.rstrip())
        else:
            lines += wrap_line(line.rstrip(), width, brackets=brackets)
    return lines


class Wrapped:
    """A rich renderable that wraps Chinese text with ``wrap`` at whatever width
    it is given (a panel's inside, the terminal); English text is drawn by rich
    as a plain Text, unless ``brackets`` asks code and formulas to stay whole."""

    def __init__(self, text: str, style: str = "", lead: tuple[str, str] = ("", ""),
                 brackets: bool = False):
        self.text = lead[0] + text  # lead: a label drawn in its own style ("Q1/3 ")
        self.style = style
        self.lead = lead
        # code in brackets, and a formula, stays whole where it fits (wrap_line): in
        # English too (rich broke a hint's `stack([-x[..., 1::2], x[..., 0::2]], -1)`)
        self.brackets = brackets

    def __rich_console__(self, console, options):
        if not has_cjk(self.text) and not self.brackets:
            text = Text(self.text, style=self.style)
        else:
            text = Text("\n".join(wrap(self.text, options.max_width, self.brackets)),
                        style=self.style, no_wrap=True, overflow="fold")
        text.stylize(self.lead[1], 0, len(self.lead[0]))
        yield text

    def __rich_measure__(self, console, options) -> Measurement:
        widest = max((cell_len(line) for line in self.text.splitlines()), default=0)
        return Measurement(min(widest, 8), widest).clamp(max_width=options.max_width)


def wrap_parts(line: str, width: int, separator: str = "·") -> list[str]:
    """A line of parts joined by ``separator`` (a verdict: "score 50% · cpu ·
    seed 0 · 1.09 s"), broken only after a separator, unless a part alone is
    wider than the line (then at its own spaces, outside brackets first); the
    separator ends the line before a break."""
    pieces = [piece.strip() for piece in line.split(separator)]
    units = [piece + (f" {separator}" if k < len(pieces) - 1 else "")
             for k, piece in enumerate(pieces) if piece]
    indent = line[: len(line) - len(line.lstrip(" "))]
    return _fill([_Atom(unit, k > 0, True) for k, unit in enumerate(units)], width, indent, "",
                 formulas=False)


def _starts(source: str, lines: list[str]) -> list[int] | None:
    """Where in ``source`` each of ``lines`` (``source`` broken by _fill: only
    spaces differ) begins; None where they are not that (never expected)."""
    starts, at = [], 0
    for line in lines:
        while at < len(source) and source[at] == " " and not (line and line[0] == " " and
                                                              not starts):
            at += 1
        starts.append(at)
        i = len(line) - len(line.lstrip(" ")) if starts[1:] else 0
        while i < len(line) and at < len(source):
            if line[i] == source[at]:
                i, at = i + 1, at + 1
            elif line[i] == " ":
                i += 1  # a space _fill put where the source had none
            elif source[at].isspace():
                at += 1  # spaces the source had more of
            else:
                return None
    return starts


class Broken:
    """A styled line (a diagnosis, a verdict) broken at the width it is drawn
    at without splitting code (wrap_line with brackets) or, with ``parts``,
    only between the parts; its styles are kept. Lines after the first are
    indented by ``hang`` spaces."""

    def __init__(self, text: Text, hang: int = 0, parts: str | None = None):
        self.text = text
        self.hang = hang
        self.parts = parts

    def lines(self, width: int) -> Text:
        source = self.text.plain
        if self.parts is not None:
            wrapped = wrap_parts(source, width, self.parts)
        else:
            wrapped = wrap_line(source, width, hang=self.hang, brackets=True)
        starts = _starts(source, wrapped)
        if starts is None:
            return self.text  # rich's own breaking rather than a wrong one
        pieces = self.text.divide(starts[1:])
        lines = []
        for k, piece in enumerate(pieces):
            piece.rstrip()
            if k:
                while piece.plain[:1].isspace():
                    piece = piece[1:]
                piece = Text(" " * self.hang) + piece
            lines.append(piece)
        joined = Text("\n").join(lines)
        # a line still too wide (a unit wider than the terminal) is left to rich
        joined.overflow = "fold"
        return joined

    def __rich_console__(self, console, options):
        yield self.lines(options.max_width)

    def __rich_measure__(self, console, options) -> Measurement:
        widest = cell_len(self.text.plain)
        return Measurement(min(widest, 8), widest).clamp(max_width=options.max_width)
