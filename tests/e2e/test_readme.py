"""The README's commands work as written: the two commands, and the curl that places a bet."""

from __future__ import annotations

import json
import re
import subprocess

from tests.support.platform import ROOT, Platform

README = (ROOT / "README.md").read_text()


def _block_after(marker: str) -> str:
    found = re.search(re.escape(marker) + r"\s*```bash\n(.*?)```", README, re.S)
    assert found, f"README has no bash block after {marker!r}"
    return found.group(1)


def test_the_two_commands_are_the_ones_ci_runs() -> None:
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", README, re.S)
    assert block, "README has no '## Two commands' block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["./run demo", "./run test"]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert ci == ["./run test"], "CI must run exactly the README's test command"


def test_the_readme_curl_places_a_bet(platform: Platform) -> None:
    script = _block_after("<!-- readme-test: bet -->")
    env = {**platform.env, "API": platform.url}
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    bet = json.loads(out.stdout)
    assert bet["status"] == "accepted" and bet["stake"] == "10.00", bet
    assert platform.username == "demo1"
