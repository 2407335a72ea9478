"""The README and docs/ stay true: links and anchors resolve, shown commands parse, the site lists every page.

Commands are checked with click's own parser (the command exists, every option it is given
exists and takes the values shown, choices and numbers convert), without running anything.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from pathlib import Path

import click
import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 260

FENCE = re.compile(r"^(```|~~~)(\w*)[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def _strip_code(text: str) -> str:
    """The text without fenced blocks and inline code spans (links there are examples, not links)."""
    text = FENCE.sub("", text)
    return re.sub(r"(`+)(?:(?!\1).)+\1", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading; mkdocs' default (toc) gives the same for ASCII headings."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, title in HEADING.findall(FENCE.sub("", page.read_text())):
        s = slug(title)
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(page: Path) -> list[str]:
    return LINK.findall(_strip_code(page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_and_anchors_resolve(page):
    bad = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
            continue
        if path.endswith("/") is False and dest.is_dir() and page.parent == DOCS:
            bad.append(f"{target}: a folder (the site cannot link it)")
        if page.parent == DOCS and path and not dest.is_relative_to(DOCS):
            bad.append(f"{target}: outside docs/ (the site cannot link it; name the file in code instead)")
        if anchor:
            if dest.suffix != ".md":
                bad.append(f"{target}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(dest):
                bad.append(f"{target}: no heading with anchor #{anchor} in {_rel(dest)}")
            elif not anchor.isascii():
                bad.append(f"{target}: a non-ASCII anchor (GitHub and the site spell it differently)")
    assert not bad, f"{_rel(page)}:\n  " + "\n  ".join(bad)


def test_slug_follows_github():
    assert slug("`imgrestore eval`") == "imgrestore-eval"
    assert slug("Timing (imgrestore/bench.py)") == "timing-imgrestorebenchpy"
    assert slug("Degradations, measured") == "degradations-measured"
    assert slug("Networks: `imgrestore bench net`") == "networks-imgrestore-bench-net"
    assert slug("the `imgrestore_models` hook") == "the-imgrestore_models-hook"


REPO_PATH = re.compile(r"`((?:imgrestore|kernels|plugins|benchmarks|tests|examples|docs)/[\w./*-]*[\w*/])`")
# Pages that name files another change creates (a packaged model appears when it is trained).
GENERATED = ("imgrestore/zoo/packaged/", "imgrestore/zoo/cards/")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_named_repository_files_exist(page):
    """`imgrestore/foo.py`, `kernels/*.cu`, ...: code moves, and the docs must move with it."""
    bad = []
    for name in sorted(set(REPO_PATH.findall(FENCE.sub("", page.read_text())))):
        path = name.split("::")[0]
        if path.startswith(GENERATED):
            continue
        if not (list(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
            bad.append(name)
    assert not bad, f"{_rel(page)} names files that do not exist: {bad}"


# -- commands shown in code blocks ---------------------------------------------------------------


def shown_commands(text: str) -> list[list[str]]:
    """Every ``imgrestore ...`` command line of the shell blocks, as argv after ``imgrestore``."""
    out = []
    for _, lang, body in FENCE.findall(text):
        if lang not in ("bash", "sh", "shell", "console"):
            continue
        body = re.sub(r"\\\n\s*", " ", body)  # continuation lines
        for line in body.splitlines():
            line = line.strip().removeprefix("$ ")
            try:
                lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
                lexer.whitespace_split = True
                lexer.commenters = "#"
                tokens = list(lexer)
            except ValueError:
                continue  # a heredoc or other shell syntax that is not a command line
            cmd: list[str] = []
            for tok in [*tokens, ";"]:
                if tok and set(tok) <= set("|&;<>"):
                    argv = _imgrestore_argv(cmd)
                    if argv is not None:
                        out.append(argv)
                    cmd = []
                else:
                    cmd.append(tok)
    return out


def _imgrestore_argv(words: list[str]) -> list[str] | None:
    for i, w in enumerate(words):
        if w == "imgrestore" and (i == 0 or words[i - 1] == "-m"):
            if i > 0 and words[i - 1] == "-m" and not (words[0].startswith("python") or words[0] == "torchrun"):
                return None
            rest = words[i + 1:]
            # [--opt value] marks an optional part in the docs: drop the brackets, keep the words
            return [t.strip("[]") if t.startswith("[") or t.endswith("]") else t for t in rest if t.strip("[]")]
    return None


def _plugin_command_names() -> set[str]:
    """Commands that the example plugin adds (docs may show them; they need the plugin installed)."""
    src = (ROOT / "examples" / "imgrestore-blur").rglob("*.py")
    return {m for f in src for m in re.findall(r"click\.command\(\s*\"([\w-]+)\"", f.read_text())}


def check_argv(argv: list[str]) -> str | None:
    """Why ``imgrestore ARGV`` would not parse, or None; nothing is run."""
    from imgrestore.cli.main import cli

    cmd: click.Command = cli
    ctx = click.Context(cli, info_name="imgrestore")
    args = list(argv)
    while isinstance(cmd, click.Group):
        if not args or args[0] in ("--help", "-h", "--version"):
            return None
        if args[0].startswith("-"):
            return f"option {args[0]} before the command"
        name = args.pop(0)
        sub = cmd.get_command(ctx, name)
        if sub is None:
            if name in _plugin_command_names():
                return None  # the example plugin's command: exists once the plugin is installed
            return f"no command {name!r}"
        ctx = click.Context(sub, parent=ctx, info_name=name)
        cmd = sub
    if "--help" in args or "-h" in args:
        return None
    parser = cmd.make_parser(ctx)
    try:
        opts, rest, _ = parser.parse_args(args=list(args))
    except click.UsageError as exc:
        return exc.format_message()
    if rest and not ctx.allow_extra_args:
        return f"unexpected extra arguments {rest}"
    for param in cmd.params:
        value = opts.get(param.name)
        if value is None or isinstance(param.type, (click.Path, click.File)) or param.type is click.UNPROCESSED:
            continue
        try:
            param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            return f"{param.opts[0] if param.opts else param.name}: {exc.format_message()}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_shown_commands_parse(page):
    commands = shown_commands(page.read_text())
    bad = [f"imgrestore {shlex.join(a)}: {why}" for a in commands if (why := check_argv(a))]
    assert not bad, f"{_rel(page)}:\n  " + "\n  ".join(bad)


def inline_commands(text: str) -> list[str]:
    """``imgrestore ...`` in inline code spans (tables, prose): synopses with NAME and [optional] parts."""
    spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", FENCE.sub("", text))
    return [s for s in spans if re.match(r"imgrestore [a-z]", s)]


def check_synopsis(span: str) -> str | None:
    """The command of a synopsis exists, and so does every option it names."""
    from imgrestore.cli.main import cli

    words = [w.strip("[]()|,.;") for w in span.replace("\\|", " ").split()[1:]]
    cmd: click.Command = cli
    ctx = click.Context(cli, info_name="imgrestore")
    while isinstance(cmd, click.Group) and words and re.fullmatch(r"[a-z][a-z0-9-]*", words[0]):
        name = words.pop(0)
        sub = cmd.get_command(ctx, name)
        if sub is None:
            return None if name in _plugin_command_names() else f"no command {name!r}"
        ctx, cmd = click.Context(sub, parent=ctx, info_name=name), sub
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h", "--version"}
    for w in words:
        for opt in w.split("/"):
            opt = opt.split("=")[0]
            if re.fullmatch(r"--?[a-z][a-z0-9-]*", opt) and opt not in known:
                return f"{cmd.name} has no option {opt}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_inline_commands_exist(page):
    bad = [f"`{s}`: {why}" for s in inline_commands(page.read_text()) if (why := check_synopsis(s))]
    assert not bad, f"{_rel(page)}:\n  " + "\n  ".join(bad)


def test_the_command_check_catches_mistakes():
    assert check_synopsis("imgrestore bench net NAME [--sizes 256,512] [--device cpu|cuda]") is None
    assert check_synopsis("imgrestore restore INPUTS... --weights CKPT --cuda-graphs/--no-cuda-graphs") is None
    assert "no option --tiles" in check_synopsis("imgrestore restore x --tiles 4")
    assert "no command" in check_synopsis("imgrestore bench nets NAME")
    assert check_argv(["synth", "moire", "--out", "x/", "--count", "3"]) is None
    assert check_argv(["bench", "net", "dncnn-b", "--sizes", "256"]) is None
    assert "no command" in check_argv(["synthesize", "moire"])
    assert "--cuont" in check_argv(["synth", "moire", "--out", "x/", "--cuont", "3"])
    assert check_argv(["synth", "moire", "--out", "x/", "--bits", "12"])  # not a choice
    assert check_argv(["synth", "moire", "--out", "x/", "--count", "many"])  # not an integer
    assert check_argv(["restore", "a.png", "--out"])  # an option without its value
    argv = shown_commands('```bash\nimgrestore synth "a | b" --out p/ \\\n    --count 2  # c\n'
                          'x && python -m imgrestore plugins -v | head\n```\n')
    assert argv == [["synth", "a | b", "--out", "p/", "--count", "2"], ["plugins", "-v"]]


# -- the site -------------------------------------------------------------------------------------


def _nav_pages() -> list[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:"):]
    title = r"""(?:"[^"\n]*"|'[^'\n]*'|[^:\n"']+)"""
    return re.findall(rf"(?m)^\s*-\s*(?:{title}:\s*)?([\w./-]+\.md)\s*$", nav)


def test_mkdocs_nav_lists_every_page_once():
    nav = _nav_pages()
    assert len(nav) == len(set(nav)), "a page is listed twice"
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert set(nav) == pages, f"missing from nav: {sorted(pages - set(nav))}; not a page: {sorted(set(nav) - pages)}"


def test_readme_is_short_and_its_quick_start_is_the_sites():
    readme = README.read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    start, end = readme.index("\n## Quick start\n"), readme.index("\n## Commands\n")
    blocks = [b for _, lang, b in FENCE.findall(readme[start:end]) if lang == "bash"]
    site = [b for _, lang, b in FENCE.findall((DOCS / "quickstart.md").read_text()) if lang == "bash"]
    assert len(blocks) >= 5 and blocks == site


def test_pictures_are_small():
    for f in (DOCS / "images").glob("*.png"):
        assert f.stat().st_size < 1_000_000, f"{_rel(f)} is {f.stat().st_size // 1000} kB"
