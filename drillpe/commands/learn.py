"""`drillpe learn ID`: see what the code should produce before writing it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drillpe.app import ExerciseArg, LangOpt, app, exercise_or_usage
from drillpe.data import i18n, lessons
from drillpe.errors import EXIT_OK
from drillpe.render import lesson_views as view


@app.command(short_help="Formula, worked example and heatmap of the target.")
def learn(
    exercise_id: ExerciseArg,
    png: Annotated[Path | None, typer.Option(
        "--png", metavar="FILE", help="Also write the heatmap as a PNG image (needs "
        "matplotlib: pip install 'drillpe[plot]').", dir_okay=False)] = None,
    lang: LangOpt = None,
) -> int:
    """Formula, worked example and a heatmap of the target, before you drill."""
    exercise = exercise_or_usage(exercise_id)
    lesson = lessons.lesson(exercise.id)
    language = i18n.current()
    texts = lessons.texts(exercise.id, lesson.numbers, language)
    labels = lessons.labels(language)
    english = None
    if png is not None:  # before printing, so a missing matplotlib is the only output
        english = view.write_png(png, lesson.heatmap, texts,
                                 lessons.texts(exercise.id, lesson.numbers, "en"), language)
    view.show(exercise.id, exercise.title, lesson, texts, labels)
    if png is not None:
        view.written(labels, str(png), bool(english))
    return EXIT_OK
