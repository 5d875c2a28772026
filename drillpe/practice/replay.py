"""``drillpe replay ID``: step through the attempts of an exercise, one
screen each (its scorecard, fitted to the terminal as watch's is), with the
arrow keys; q quits. Without a terminal nothing waits for keys: every
attempt is printed one after another (drillpe.render.timeline_views)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from drillpe.results.report import ExerciseResult
from drillpe.results.timeline import Entry

POLL_S = 0.25
STEP = {"left": -1, "right": 1, "p": -1, "n": 1, "h": -1, "l": 1, "k": -1, "j": 1,
        "up": -1, "down": 1}


def interactive(keys) -> bool:
    """A live screen only when keys come from a terminal and output goes to one."""
    return bool(keys.is_tty) and sys.stdout.isatty()


def step(place: int, key: str, count: int) -> int:
    """The attempt shown after ``key``: one before or after, the first or the last."""
    if key == "home":
        return 0
    if key == "end":
        return count - 1
    return min(max(place + STEP.get(key, 0), 0), count - 1)


def run(entries: list[Entry], report: Callable[[Entry], ExerciseResult | None], keys,
        start: int | None = None) -> None:
    """Show the attempts, starting at the last (or ``start``), until q or Ctrl-C."""
    # deferred: screens load when replay draws
    from drillpe.render import timeline_views as view

    if not entries:
        return
    if not interactive(keys):
        view.replay_printed(entries, [report(e) for e in entries])
        return
    # deferred: the live display loads only in a terminal
    from rich.live import Live

    cache: dict[int, ExerciseResult | None] = {}

    def screen(place: int):
        if place not in cache:
            cache[place] = report(entries[place])
        return view.replay_view(entries[place], len(entries), cache[place])

    place = len(entries) - 1 if start is None else start
    shown_size = view.out.size
    try:
        with Live(screen(place), console=view.out, auto_refresh=False, redirect_stdout=False,
                  redirect_stderr=False, transient=False) as live:
            while True:
                key = keys.poll(POLL_S)
                if key in ("q", "Q"):
                    return
                size = view.out.size
                if key is None and size == shown_size:
                    continue
                shown_size = size
                if key is not None:
                    place = step(place, key, len(entries))
                live.update(screen(place), refresh=True)
    except KeyboardInterrupt:
        pass
