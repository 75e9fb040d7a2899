"""The contract between Python and the Lua scripts, read from the sources (no Redis here).

Every script's keys and arguments are declared once (``storage.scripts``); the bodies use
the declared names only; every error code a script can return is one the domain knows and
the edge maps to an HTTP status.
"""

from __future__ import annotations

import re

import pytest

from domain.errors import ERRORS_BY_CODE
from serve_apps.problems import STATUS
from storage.scripts import LUA_DIR, PRELUDE, SCRIPTS, Script

BODIES = {path.stem: path.read_text() for path in LUA_DIR.glob("*.lua")}
# codes a script refuses with: fail('CODE', ...) and {err = 'CODE', ...}
CODE = re.compile(r"""fail\(\s*'([A-Z_]+)'|err\s*=\s*'([A-Z_]+)'""")


def test_every_script_file_is_declared_and_every_declaration_has_a_file() -> None:
    assert set(BODIES) - {PRELUDE} == set(SCRIPTS)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_bodies_use_names_not_positions(name: str) -> None:
    positional = re.findall(r"(?:KEYS|ARGV)\[\s*\d", BODIES[name])
    assert positional == [], f"{name}.lua indexes KEYS/ARGV by number: {positional}"


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_key_a_body_uses_is_declared(name: str) -> None:
    script = SCRIPTS[name]
    used = set(re.findall(r"\bK_[A-Z_]+\b", script.body()))
    if script.prelude:
        used |= set(re.findall(r"\bK_[A-Z_]+\b", BODIES[PRELUDE]))
    declared = {f"K_{k.lua_name}" for k in script.keys}
    assert used <= declared, f"{name}.lua uses undeclared keys {sorted(used - declared)}"


def test_every_code_a_script_returns_is_known_and_mapped() -> None:
    codes = {a or b for body in BODIES.values() for a, b in CODE.findall(body)}
    assert {"INSUFFICIENT_FUNDS", "SELF_EXCLUDED", "RATE_LIMITED"} <= codes  # the regex works
    unknown = codes - set(ERRORS_BY_CODE)
    assert not unknown, f"codes the Python error tree does not know: {sorted(unknown)}"
    unmapped = codes - set(STATUS)
    assert not unmapped, f"codes the edge has no HTTP status for: {sorted(unmapped)}"


def test_every_domain_error_code_has_an_http_status() -> None:
    assert set(ERRORS_BY_CODE) <= set(STATUS)


def test_the_binding_names_every_key_and_argument_in_order() -> None:
    script = SCRIPTS["reserve"]
    binding = script.binding()
    assert "local K_ACCT = KEYS[1]" in binding
    assert "local K_BETS = KEYS[13]" in binding
    assert "local NOW = tonumber(ARGV[1])" in binding
    assert "local PRODUCT = ARGV[6]" in binding
    assert "local RATE_PER_S = tonumber(ARGV[9])" in binding
    assert SCRIPTS["set_limits"].binding().endswith("local CHANGES_AT = 2\n")


def test_calls_are_built_by_name_and_refuse_mistakes() -> None:
    script = Script("demo", ("acct", "extra?"), ("now:int", "who", "tail*"), prelude=False)
    keys, args = script.call({"acct": "k1"}, {"now": 5, "who": "me"}, ["x", "y"])
    assert keys == ["k1"] and args == [5, "me", "x", "y"]
    with pytest.raises(TypeError, match="needs arg who"):
        script.call({"acct": "k1"}, {"now": 5})
    with pytest.raises(TypeError, match="no key"):
        script.call({"acct": "k1", "acct2": "k2"}, {"now": 5, "who": "me"})
    with pytest.raises(TypeError, match="no arg"):
        script.call({"acct": "k1"}, {"now": 5, "who": "me", "whom": "you"})
