"""Templates that would build gigabytes in a few steps ('%0999999999d' % 1, a string replaced into itself in
a loop, 'x'|center(10**9), a list that holds itself twice per step...) are refused by the sandbox before the
value exists: `vlmgrade rubric check` exits 2 with one line, within seconds and a few MB (hangs and deep
loops: tests/rubrics/test_hostile_rubrics.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import child_env

LOOP = "{% set ns = namespace(v=START) %}{% for i in range(40) %}{% set ns.v = STEP %}{% endfor %}{{ ns.v|length }}"
ATTACKS = {
    "percent": "{{ '%0999999999d' % 1 }}",
    "percent, star width": "{{ '%*d' % (999999999, 1) }}",
    "percent, one key many times": "{{ ('%(a)s' * 100000) % {'a': 'x' * 100000} }}",
    "format filter": "{{ '%0999999999d'|format(1) }}",
    "replace in a loop": LOOP.replace("START", "'xx'").replace("STEP", "ns.v|replace('x', 'xx')"),
    "str doubling": LOOP.replace("START", "'x'").replace("STEP", "ns.v + ns.v"),
    "list doubling": LOOP.replace("START", "['x']").replace("STEP", "ns.v + ns.v"),
    "tilde doubling": LOOP.replace("START", "'x'").replace("STEP", "ns.v ~ ns.v"),
    "list literal doubling as text": LOOP.replace("START", "['xxxxxxxx']").replace("STEP", "[ns.v, ns.v]")
                                         .replace("|length", "|string|length"),
    "list literal doubling as output": LOOP.replace("START", "['x']").replace("STEP", "[ns.v, ns.v]")
                                           .replace("|length", ""),
    "center": "{{ 'x'|center(10**9) }}",
    "product, count first": "{{ 1000000000 * 'x' }}",
    "str.ljust": "{{ 'x'.ljust(10**9) }}",
    "str.zfill": "{{ '1'.zfill(10**9) }}",
    "str.replace": "{{ ('x' * 10000).replace('x', 'y' * 100000) }}",
    "str.format width": "{{ '{:>999999999}'.format(1) }}",
    "str.format nested width": "{{ '{0:{1}}'.format(1, 999999999) }}",
    "str.format repeated field": "{{ ('{0}' * 100000).format('x' * 100000) }}",
    "str.join": "{{ ('y' * 10000).join(['x'] * 100000) }}",
    "indent": "{{ ('a\\n' * 100000)|indent(100000) }}",
    "wordwrap": "{{ ('a ' * 100000)|wordwrap(1, wrapstring='z' * 10000) }}",
    "join filter": "{{ (['x'] * 100000)|join('y' * 100000) }}",
    "batch fill": "{{ [1]|batch(10**9, 'x')|list|length }}",
    "slice": "{{ [1]|slice(10**9)|list|length }}",
    "tojson indent": "{{ [[1]]|tojson(indent=10**9) }}",
    "integer power tower": "{% set ns = namespace(n=10) %}{% for i in range(6) %}{% set ns.n = ns.n ** 64 %}"
                           "{% endfor %}{{ ns.n > 1 }}",
    "integer squaring": "{% set ns = namespace(n=10) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                        "{% endfor %}{{ ns.n > 1 }}",
    "lipsum": "{{ lipsum(10**9)|length }}",
    "literal text in loops": "{% for i in range(9000) %}{% for j in range(100) %}" + "y" * 1000 + "{% endfor %}"
                             "{% endfor %}",
    "macro of literal text": "{% macro m() %}{% for i in range(9000) %}{% for j in range(100) %}" + "y" * 1000
                             + "{% endfor %}{% endfor %}{% endmacro %}{{ m()|length }}",
    "list grown in place": "{% set l = ['x' * 100000] %}{% for i in range(28) %}{{ l.extend(l) or '' }}"
                           "{% endfor %}{{ l|length }}",
}

# One child runs every attack through `vlmgrade rubric check` and reports exit code, the stderr lines, the
# seconds and the growth of memory traced during each (tracemalloc sees every str and list Python builds). Its
# address space is capped and each attack is stopped after 20 s, so a template that does build gigabytes or
# hang fails there, on its own, instead of taking this machine or the other attacks with it.
CHILD = r"""
import contextlib, io, json, os, resource, signal, sys, time, tracemalloc
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
def stop(*_):
    raise TimeoutError("still running after 20 s")
signal.signal(signal.SIGALRM, stop)
from vlmgrade.cli import main
attacks, folder, out = json.loads(sys.argv[1]), sys.argv[2], {}
tracemalloc.start()
for name, prompt in attacks.items():
    path = os.path.join(folder, "r.yaml")
    with open(path, "w") as f:
        f.write("name: bad\ncriteria:\n  f: {description: d, scale: [1, 5]}\nprompt: " + json.dumps(prompt) + "\n")
    err = io.StringIO()
    tracemalloc.reset_peak()
    held, started = tracemalloc.get_traced_memory()[0], time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:  # the timer may also go off while an error is on its way out: both land here
            signal.setitimer(signal.ITIMER_REAL, 20)
            try:
                code = main(["rubric", "check", path])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as e:
            code = type(e).__name__
    out[name] = {"code": code, "lines": err.getvalue().strip().splitlines(),
                 "seconds": time.monotonic() - started,
                 "growth_mb": (tracemalloc.get_traced_memory()[1] - held) / 2**20}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def refused(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("attacks")
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(ATTACKS), str(folder)], capture_output=True,
                          text=True, env=child_env(OMP_NUM_THREADS="1"), timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_expression_that_would_build_gigabytes_is_one_line_fast_and_small(refused, name):
    result = refused[name]
    assert result["code"] == 2, result
    assert len(result["lines"]) == 1 and "Traceback" not in result["lines"][0], result
    assert "refused by the sandbox" in result["lines"][0], result
    assert result["seconds"] < 3, result
    assert result["growth_mb"] < 200, result


def test_the_line_names_the_step_and_the_cap(refused):
    line = refused["percent"]["lines"][0]
    assert "'%' would build a value of 1,000,000,012 characters; a template value holds at most 1,000,000" in line
    assert "the center filter would build" in refused["center"]["lines"][0]
    assert "access to attribute 'extend' of 'list' object is unsafe" in refused["list grown in place"]["lines"][0]


def test_ordinary_templates_render_as_before():
    from vlmgrade.core.sandbox import counted_steps, sandbox_environment

    cases = {
        "{{ '%s scored %d' % ('a', 3) }} {{ '%(x)s/%(x)s' % {'x': 1} }} {{ '%5.2f|%%' % 3.14159 }}":
            "a scored 3 1/1  3.14|%",
        "{{ '{:>3}'.format('a') }}{{ '{0}-{1!r}'.format(1, 'b') }}{{ '{a}'.format_map({'a': 2}) }}": "  a1-'b'2",
        "{{ [{'n': 'a'}, {'n': 'b'}]|map(attribute='n')|join(', ') }} {{ 'x' ~ 1 ~ none }}": "a, b x1None",
        "{% set ns = namespace(l=[]) %}{% for i in range(3) %}{% set ns.l = ns.l + [i * 2] %}{% endfor %}{{ ns.l }}":
            "[0, 2, 4]",
        "{{ 2 * 'ab' }}{{ [0] * 2 }} {{ 2 ** 10 - 24 }} {{ {'a': [1]}|tojson }} {{ 'a b c'|wordwrap(3)|indent(1) }}":
            'abab[0, 0] 1000 {"a": [1]} a b\n c',
        "{% macro m(x) %}<{{ x|center(3) }}>{% endmacro %}{{ m(1) }}{% set t %}{{ 'ab'.upper() }}{% endset %}{{ t }}":
            "< 1 >AB",
        "{{ 'aXb'|replace('X', '--') }} {{ [1, 2, 3]|batch(2, 0)|list }} {{ [[1], [2]]|sum(start=[]) }}":
            "a--b [[1, 2], [3, 0]] [1, 2]",
    }
    env = sandbox_environment()
    for template, expected in cases.items():
        with counted_steps():
            assert env.from_string(template).render() == expected, template
