"""The first hour, as the README tells it: every command it shows and the demo prints works.

Real processes in a scratch directory, with no network beyond the loopback: ``registry
demo`` (the README's first command) serves on a free port; then every command the demo
prints (its GraphQL queries and its command lines) and every command of the README's
console blocks, in the README's order, runs as a user would type it, with the demo's
port for ``8000``. Each must succeed, and where the README shows output, the real output
must be the same text (wrapping aside; secrets, durations and ports vary). Last, the
example of docs/changeset-format.md (docs/examples/merge-wards.json) on the demo's data.

Not run here: ``pip install`` (done already), ``pytest`` (this suite) and the benchmarks
of the Performance section.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy_utils import create_database, database_exists, drop_database

from tests import processes

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CHANGESET_DOC = ROOT / "docs" / "changeset-format.md"
MARIADB_SERVER = os.environ.get("REGISTRY_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
REGISTRY = [sys.executable, "-c", "from registry.cli import main; main()"]
VARYING = [  # what differs between two honest runs, replaced before comparing
    (re.compile(r"rgt_[A-Za-z0-9_-]+"), "rgt_SECRET"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_SECRET"),
    (re.compile(r"\b\d+(\.\d+)? s\b"), "N s"),
    (re.compile(r"\b\d:\d\d:\d\d\b"), "H:MM:SS"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:PORT"),
]


@dataclass
class Step:
    """One ``$ command`` of a README console block and the output shown under it."""

    command: str
    shown: str


def readme_steps(path: Path = README, stop: str = "\n## Tests") -> list[Step]:
    """The console commands of a Markdown file, in order, up to the heading ``stop``."""
    text = path.read_text("utf-8").split(stop, 1)[0]
    blocks: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    steps: list[Step] = []
    for lines in blocks:
        if not lines or not lines[0].startswith("$ "):
            continue
        i = 0
        while i < len(lines):
            command = lines[i].removeprefix("$ ")
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            i += 1
            shown: list[str] = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            steps.append(Step(re.sub(r"\s+#.*$", "", command).strip(), "\n".join(shown)))
    return steps


def normal(text: str) -> str:
    """Text with its varying parts replaced and its whitespace (wrapping) collapsed."""
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mariadb_replica() -> Iterator[str]:
    """A scratch MariaDB database for the README's ``--into mysql+pymysql://…/replica``."""
    url = f"{MARIADB_SERVER}/walkthrough_{uuid.uuid4().hex[:10]}"
    create_database(url)
    yield url
    if database_exists(url):
        drop_database(url)


class Demo:
    """``registry demo`` serving on a free port, its printed output collected."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = cwd.parent / f"demo-{self.port}.out"
        with open(self.log, "wb") as out:
            self.process = processes.popen([*REGISTRY, "demo", "--port", str(self.port)],
                                            cwd=cwd, env=env, stdout=out,
                                            stderr=subprocess.STDOUT)

    def wait_until_serving(self, seconds: float = 300) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the demo exited: {self.output()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                            timeout=2):
                    return self.output()
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"the demo did not serve in {seconds} s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def graphql(port: int, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a README command line as a shell would, ``registry`` being this checkout's."""
    words = shlex.split(command)
    if words[0] == "registry":
        return processes.run([*REGISTRY, *words[1:]], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=600)
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def follow_once(command: str, cwd: Path, env: dict[str, str]) -> str:
    """``sync pull --follow`` runs until stopped: wait for its first catch-up, stop it as a
    user would (Ctrl-C), and expect a clean exit."""
    words = shlex.split(command)
    process = processes.popen([*REGISTRY, *words[1:]], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in process.stdout:
        seen.append(line)
        if "applied" in line or time.monotonic() > deadline:
            break
    time.sleep(0.5)  # into the long poll
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 0, f"{command}\n{output}"
    assert any("applied" in line for line in seen), f"{command}\n{output}"
    return output


def test_every_command_of_the_readme_and_the_demo_works(
        tmp_path: Path, mariadb_replica: str) -> None:
    steps = readme_steps()
    first = steps[0]
    assert first.command.endswith("registry demo"), first
    work = tmp_path / "clone"
    work.mkdir()
    (work / "docs" / "examples").mkdir(parents=True)
    for example in (ROOT / "docs" / "examples").iterdir():
        (work / "docs" / "examples" / example.name).write_bytes(example.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(HOME=str(tmp_path), PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))

    demo = Demo(work, env)
    try:
        printed = demo.wait_until_serving()
        port = demo.port
        shown_demo = next(s for s in steps if s.command == "registry demo")
        # The README's demo output is the demo's output (its progress bar is redrawn on a
        # terminal, and shown once in the README).
        shown = "\n".join(line for line in shown_demo.shown.splitlines()
                          if not line.startswith("loading bundled data"))
        real = "\n".join(line for line in printed.splitlines()
                         if not line.startswith("loading bundled data"))
        assert normal(real) == normal(shown)

        # What the demo prints: its GraphQL queries, then its command lines.
        queries = [line.strip() for line in printed.splitlines()
                   if line.strip().startswith("{")]
        assert len(queries) >= 3, printed
        for query in queries:
            answer = graphql(port, query)
            assert "errors" not in answer and answer.get("data"), (query, answer)
        hints = re.findall(r"(?:^|: )(registry [^\n]+)$", printed, re.M)
        assert hints, printed
        for hint in hints:
            done = run(hint, work, env)
            assert done.returncode == 0, (hint, done.stdout, done.stderr)

        # Then every README command, in order.
        token = ""
        for step in steps[1:]:
            if step.command.endswith("registry demo"):
                continue
            if step.command.startswith(("pip install", "python bench/")):
                continue
            command = re.sub(r"(127\.0\.0\.1|localhost):8000", rf"\1:{port}", step.command)
            if "mysql+pymysql://" in command:
                command = re.sub(r"mysql\+pymysql://\S+", mariadb_replica, command)
            if "--follow" in command:
                follow_once(command, work, env)
                continue
            # The README's "$TOKEN" is the secret a user copies from the last token created.
            command = command.replace("$TOKEN", token)
            done = run(command, work, env)
            output = done.stdout + done.stderr
            token = next(iter(re.findall(r"rgt_[A-Za-z0-9_-]+", output)), token)
            if step.shown.startswith("error:"):
                assert done.returncode != 0, (command, output)
            else:
                assert done.returncode == 0, (command, output)
            if step.shown:
                assert normal(output) == normal(step.shown), command

        # The change-set format's example file, as docs/changeset-format.md runs it.
        for step in readme_steps(CHANGESET_DOC, "\n## Top level"):
            done = run(step.command, work, env)
            output = done.stdout + done.stderr
            assert done.returncode == 0, (step.command, output)
            assert normal(output) == normal(step.shown), step.command
    finally:
        demo.stop()
