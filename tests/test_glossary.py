"""One vocabulary: every Chinese text (the *_zh fields of exercises/*.toml and
exercises/ID/exercise.toml, and the Chinese stubs) uses the renderings of
exercises/glossary.toml and none of the variants it lists to avoid."""

import re

import tomllib

from drillpe.data import bundle

GLOSSARY = bundle.exercises_dir() / "glossary.toml"


def load_terms() -> list[dict]:
    with open(GLOSSARY, "rb") as fh:
        return tomllib.load(fh)["term"]


def chinese_texts(node, where: str, zh: bool = False):
    """(where, text) for every string under a *_zh key, however deep."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from chinese_texts(value, f"{where}.{key}", zh or key.endswith("_zh"))
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from chinese_texts(value, f"{where}[{n}]", zh)
    elif isinstance(node, str) and zh:
        yield where, node


def every_chinese_text():
    root = bundle.exercises_dir()
    for path in sorted(root.glob("*.toml")) + sorted(root.glob("*/exercise.toml")):
        if path == GLOSSARY:
            continue
        with open(path, "rb") as fh:
            yield from chinese_texts(tomllib.load(fh), str(path.relative_to(root)))
    for path in sorted(root.glob("*/stub.zh.py")):
        yield str(path.relative_to(root)), path.read_text(encoding="utf-8")


def pattern(variant: str) -> re.Pattern:
    return re.compile(variant[3:] if variant.startswith("re:") else re.escape(variant))


def test_glossary_is_well_formed():
    terms = load_terms()
    assert len(terms) >= 15
    for term in terms:
        assert term["en"] and re.search(r"[\u4e00-\u9fff]|·", term["zh"]), term
        for variant in term.get("avoid", []):
            assert not pattern(variant).search(term["zh"]), f"{term['zh']} avoids itself"


def test_every_chinese_text_keeps_to_the_glossary():
    texts = list(every_chinese_text())
    assert len(texts) > 200  # the walk reaches the exercises, not just one file
    found = []
    for term in load_terms():
        for variant in term.get("avoid", []):
            rule = pattern(variant)
            found += [f"{where}: {rule.search(text).group(0)!r} (use {term['zh']})"
                      for where, text in texts if rule.search(text)]
    assert not found, "\n".join(found)


def test_titles_use_the_community_names():
    def title(path: str) -> str:
        with open(bundle.exercises_dir() / path, "rb") as fh:
            return tomllib.load(fh)["title_zh"]

    assert title("sinusoidal/exercise.toml").startswith("正余弦")
    assert title("relative/exercise.toml").startswith("相对位置编码")
    with open(bundle.exercises_dir() / "common.toml", "rb") as fh:
        assert "长度外推" in tomllib.load(fh)["topics"]["scaling"]["title_zh"]
