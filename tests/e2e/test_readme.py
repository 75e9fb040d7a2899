"""The README's commands work as written: the three commands, and the curl that places a bet."""

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


def test_the_three_commands_are_the_ones_ci_runs() -> None:
    commands = [line.split("#")[0].strip() for line in
                re.search(r"## Three commands.*?```bash\n(.*?)```", README, re.S)
                .group(1).splitlines()]  # type: ignore[union-attr]
    install, run, test = commands[:3]
    assert install == "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
    assert run == ".venv/bin/inplay up --demo"
    ci = (ROOT / ".ci" / "run").read_text()
    assert install in ci and test in ci, "CI must run exactly the README's install and test"


def test_the_readme_curl_places_a_bet(platform: Platform) -> None:
    script = _block_after("<!-- readme-test: bet -->")
    env = {**platform.env, "API": platform.url, "PASSWORD": platform.password}
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    bet = json.loads(out.stdout)
    assert bet["status"] == "accepted" and bet["stake"] == "10.00", bet
    assert platform.username == "demo1"
