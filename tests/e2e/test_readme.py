"""The README is a test: every ```sh / ```bash and ```python example in README.md runs, as
written, against a devstack of its own, with the values that devstack printed, and fails when
one answers an error.

A reader pastes the printed NAME=value lines into a shell and a Python session, then pastes the
examples in the README's order. So the shell examples run in order, each in bash with
`set -euo pipefail`, the printed values in the environment, and what an earlier example set
carried to the next (`set -a`); `curl` on PATH is the real curl with `--fail-with-body`, so an
HTTP error fails the example. Python examples run with `exec`, each in a fresh namespace
holding the printed values. Every example runs in a scratch folder that holds the repository's
folders, so `.venv/bin/python` and `events/...` resolve and files they write go nowhere; its
`.devstack` is this stack's state folder.

The stack is the README's own (not the e2e tier's shared one): the README describes a fresh
`make run`, and its archive example batches this month, which a stack can do once.

An example that cannot run here (a deploy, `make run`) carries a visible marker right before
its fence: `<!-- readme-test: skip (why) -->`. Every other example runs; the test discovers
them, so a new one is tested the day it is written.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, running_devstack

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
SHELL_LANGUAGES = {"sh", "bash", "shell"}
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$")
SKIP_MARKER = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>.+)\)\s*-->\s*$")
EXAMPLE_TIMEOUT_SECONDS = 600  # generous: the machine may be loaded; an example never waits


@dataclass(frozen=True)
class Example:
    """One fenced sh or python block of the README."""

    heading: str
    number: int  # its place among the examples under its heading, from 1
    language: str  # "sh" or "python"
    source: str
    line: int  # the line of its opening fence
    skip_reason: str | None

    @property
    def test_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"{slug}-{self.number}"


def readme_examples(text: str) -> list[Example]:
    """The README's sh and python blocks in order; a skip marker must sit right before one."""
    examples: list[Example] = []
    heading, per_heading = "top", 0
    lines = text.splitlines()
    pending_skip: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            language = fence.group(1).lower()
            language = "sh" if language in SHELL_LANGUAGES else language
            if language in ("sh", "python"):
                per_heading += 1
                examples.append(
                    Example(
                        heading=heading,
                        number=per_heading,
                        language=language,
                        source="\n".join(lines[index + 1 : end]) + "\n",
                        line=index + 1,
                        skip_reason=pending_skip[1] if pending_skip else None,
                    )
                )
            elif pending_skip:
                raise ValueError(
                    f"README.md:{pending_skip[0]}: skip marker on a {language!r} block"
                )
            pending_skip = None
            index = end + 1
            continue
        skip = SKIP_MARKER.match(line)
        if pending_skip and line.strip():
            raise ValueError(f"README.md:{pending_skip[0]}: a skip marker must precede a block")
        if skip:
            pending_skip = (index + 1, skip.group("reason"))
        elif HEADING.match(line):
            heading, per_heading = HEADING.match(line).group(1), 0  # type: ignore[union-attr]
        elif "readme-test" in line:
            raise ValueError(f"README.md:{index + 1}: unknown readme-test marker: {line}")
        index += 1
    return examples


EXAMPLES = readme_examples(README.read_text())

CURL_WRAPPER = """#!/bin/sh
# The README's curl: an HTTP error status fails the example, its body shown.
exec {curl} --fail-with-body --show-error "$@"
"""


class Reader:
    """A reader at a terminal: the printed values pasted, the README's examples run in order."""

    def __init__(self, contract: dict[str, str], home: Path) -> None:
        self.printed = {name: value for name, value in contract.items() if name != "STATE_DIR"}
        self.folder = home / "work"
        self.folder.mkdir()
        for entry in ROOT.iterdir():
            if entry.is_dir() and entry.name not in (".git", ".devstack"):
                (self.folder / entry.name).symlink_to(entry)
        (self.folder / ".devstack").symlink_to(contract["STATE_DIR"])  # this stack's state
        bin_dir = home / "bin"
        bin_dir.mkdir()
        curl = bin_dir / "curl"
        curl.write_text(CURL_WRAPPER.format(curl=shutil.which("curl")))
        curl.chmod(0o755)
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))
        }
        self.shell_env = {
            **inherited,
            **self.printed,
            "DEVSTACK_STATE_DIR": contract["STATE_DIR"],  # what `make run` keeps in .devstack
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        }
        self.failures: dict[int, str | None] = {}  # example's position → its failure, or None

    def run_up_to(self, position: int) -> str | None:
        """Run every example before `position` not yet run (a reader pastes them in order),
        then that one; its failure, or None."""
        for earlier in range(position + 1):
            example = EXAMPLES[earlier]
            if earlier not in self.failures and example.skip_reason is None:
                self.failures[earlier] = self.run(earlier, example)
        return self.failures[position]

    def run(self, position: int, example: Example) -> str | None:
        if example.language == "python":
            return self.run_python(example)
        return self.run_shell(position, example)

    def run_shell(self, position: int, example: Example) -> str | None:
        script = self.folder.parent / f"example-{position}.sh"
        carried = self.folder.parent / f"example-{position}.env"
        script.write_text(
            "set -euo pipefail\nset -a  # what an example sets, the next one sees\n"
            f"{example.source}env -0 > {shlex.quote(str(carried))}\n"
        )
        done = subprocess.run(
            ["bash", str(script)],
            cwd=self.folder,
            env=self.shell_env,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            return f"exit status {done.returncode}\n{output}"
        pairs = carried.read_text().split("\0")
        self.shell_env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        return None

    def run_python(self, example: Example) -> str | None:
        namespace: dict[str, object] = {"__name__": "__readme__", **self.printed}
        code = compile(example.source, f"README.md, the block at line {example.line}", "exec")
        previous = Path.cwd()
        os.chdir(self.folder)
        try:
            exec(code, namespace)
        except Exception:
            return traceback.format_exc()
        finally:
            os.chdir(previous)
        return None


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Iterator[Reader]:
    with running_devstack(tmp_path_factory.mktemp("readme-devstack")) as contract:
        yield Reader(contract, tmp_path_factory.mktemp("readme-reader"))


@pytest.mark.parametrize("position", range(len(EXAMPLES)), ids=[e.test_id for e in EXAMPLES])
def test_the_readme_example_runs_as_written(request, position):
    example = EXAMPLES[position]
    if example.skip_reason is not None:
        pytest.skip(f"README.md:{example.line} marked: {example.skip_reason}")
    reader: Reader = request.getfixturevalue("reader")

    failure = reader.run_up_to(position)

    assert failure is None, f"README.md:{example.line} ({example.language}) failed:\n{failure}"


def test_the_readme_has_examples_that_run():
    runnable = [e for e in EXAMPLES if e.skip_reason is None]

    assert {e.language for e in runnable} == {"sh", "python"}
    assert len({e.test_id for e in EXAMPLES}) == len(EXAMPLES)


def test_a_skip_marker_applies_only_to_the_block_right_after_it():
    text = (
        "# A\n<!-- readme-test: skip (needs AWS) -->\n\n```sh\naws s3 ls\n```\n"
        "```python\nprint(1)\n```\n## B\n```bash\ncurl -s $U\n```\n```\nNAME=value\n```\n"
    )

    examples = readme_examples(text)

    assert [(e.test_id, e.language, e.skip_reason) for e in examples] == [
        ("a-1", "sh", "needs AWS"),
        ("a-2", "python", None),
        ("b-1", "sh", None),
    ]


def test_a_stray_skip_marker_is_an_error_not_a_silent_skip():
    with pytest.raises(ValueError, match="must precede a block"):
        readme_examples("<!-- readme-test: skip (why) -->\nsome prose\n```sh\nls\n```\n")
