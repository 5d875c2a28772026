"""Reading the learner's file without running it: syntax, imports, banned
APIs, references to drillpe, hard-coded CUDA. Pure ``ast``; no torch."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

REFERENCE_MODULES = ("drillpe", "solutions", "graders")


@dataclass
class Finding:
    code: str
    line: int
    text: str


@dataclass
class StaticReport:
    syntax_error: str | None = None
    syntax_line: int | None = None
    findings: list[Finding] = field(default_factory=list)

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]


class _Visitor(ast.NodeVisitor):
    def __init__(self, banned: tuple[str, ...], banned_modules: tuple[str, ...]):
        self.banned = banned
        self.banned_last = {name.rsplit(".", 1)[-1]: name for name in banned}
        self.banned_modules = banned_modules
        self.aliases: dict[str, str] = {}  # local name -> dotted module/attr path
        self.findings: list[Finding] = []

    # imports -------------------------------------------------------------
    def _check_module(self, module: str, line: int) -> None:
        root = module.split(".")[0]
        if root in REFERENCE_MODULES:
            self.findings.append(Finding("rules.uses_reference", line, f"import {module}"))
        if root in self.banned_modules:
            self.findings.append(Finding("rules.banned_api", line, f"import {module}"))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(alias.name, node.lineno)
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0:
            self._check_module(module, node.lineno)
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self.aliases[alias.asname or alias.name] = full
            self._check_banned(full, node.lineno)
        self.generic_visit(node)

    # names -----------------------------------------------------------------
    def _dotted(self, node: ast.AST) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(self.aliases.get(node.id, node.id))
            return ".".join(reversed(parts))
        return None

    def _check_banned(self, dotted: str, line: int) -> None:
        last = dotted.rsplit(".", 1)[-1]
        if dotted in self.banned or last in self.banned_last:
            self.findings.append(Finding("rules.banned_api", line, self.banned_last.get(last, dotted)))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self._dotted(node)
        if dotted:
            self._check_banned(dotted, node.lineno)
        else:
            self._check_banned(node.attr, node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "cuda":
            self.findings.append(Finding("device.hardcoded_cuda", node.lineno, ".cuda()"))
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                    arg.value.split(":")[0] == "cuda":
                self.findings.append(Finding("device.hardcoded_cuda", node.lineno, repr(arg.value)))
        if isinstance(func, ast.Name) and func.id == "__import__" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._check_module(first.value, node.lineno)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        full = self.aliases.get(node.id)
        if full and full != node.id:
            self._check_banned(full, node.lineno)


def analyse(source: str, banned: tuple[str, ...] = (), banned_modules: tuple[str, ...] = ()
            ) -> StaticReport:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        return StaticReport(syntax_error=f"{exc.msg} (line {exc.lineno}: {text})",
                            syntax_line=exc.lineno)
    visitor = _Visitor(banned, banned_modules)
    visitor.visit(tree)
    unique: dict[tuple[str, int], Finding] = {}
    for finding in visitor.findings:
        unique.setdefault((finding.code, finding.line), finding)
    return StaticReport(findings=sorted(unique.values(), key=lambda f: (f.line, f.code)))
