"""README's "A first request" run as a reader would: its shell blocks with bash and curl against a running server,
each answer compared with the one the README shows ("…" stands for what differs from run to run)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEPARATOR = "@@answer-end@@"


def walkthrough() -> list[str]:
    """The ```sh blocks of the section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A first request") :]
    section = section[: section.index("\n## ", 5)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def expected_answers(blocks: list[str]) -> list[str | None]:
    """For each `vv` call, the answer shown under it (the `# ` lines after its EOF), or None."""
    answers: list[str | None] = []
    for block in blocks:
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("vv <<"):
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j] == "EOF")
            shown = []
            for after in lines[end + 1 :]:
                if not after.startswith("# "):
                    break
                shown.append(after[2:].strip())
            answers.append("".join(shown) or None)
    return answers


def script(blocks: list[str], url: str, key: str) -> str:
    """The blocks as one bash script: the README's placeholders set to this run's server and key, and a marker
    after each answer."""
    out = ["set -e"]
    for block in blocks:
        lines = block.splitlines()
        in_heredoc = False
        for line in lines:
            if line.startswith("export VV_URL="):
                line = f"export VV_URL={url}"
            elif line.startswith("export VV_API_KEY="):
                line = f"export VV_API_KEY={key}"
            out.append(line)
            if line.startswith("vv <<"):
                in_heredoc = True
            elif in_heredoc and line == "EOF":
                in_heredoc = False
                out.append(f"echo {SEPARATOR}")
    return "\n".join(out) + "\n"


def matches(shown: str, answer: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in shown.split("…"))
    return re.fullmatch(pattern, answer, flags=re.S) is not None


def test_the_first_request_walkthrough_gives_the_answers_the_readme_shows(stack) -> None:
    blocks = walkthrough()
    shown = expected_answers(blocks)
    assert len(shown) >= 10 and sum(s is not None for s in shown) >= 6
    org = json.loads(stack.cli("create-org", "Local").stdout)
    result = subprocess.run(
        ["bash", "-c", script(blocks, stack.api_url, org["apiKey"])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    answers = [a.strip() for a in result.stdout.split(SEPARATOR)[:-1]]
    assert len(answers) == len(shown)
    for index, (expected, answer) in enumerate(zip(shown, answers, strict=True)):
        assert "errors" not in json.loads(answer), (index, answer)
        if expected is not None:
            expected = expected.replace("http://127.0.0.1:8000", stack.api_url)  # the README's VV_URL
            assert matches(expected, answer), f"answer {index}:\n  README: {expected}\n  server: {answer}"
