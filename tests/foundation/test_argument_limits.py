"""Every argument text gets an answer, quickly (SPEC EXE-3, INV-6; issue #12 items 3, 4; #21).

The scenario tests use the public API only. The loop-stall check is a benchmark, not a race:
it is marked ``slow``, runs only under ``make soak`` (``ANYIO_TOOLS_SOAK=1``), measures the
real event loop of each backend (``anyio.run``, no virtual clock) and prints what it measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time

import anyio
import pytest

from anyio_tools import (
    InvalidArgumentsError,
    ToolExecutor,
    function_tool,
    parse_arguments,
)
from anyio_tools.testing import FakeHost
from tests.executor.helpers import make_ctx

DEEP_1000 = '{"a": ' + "[" * 1000 + "]" * 1000 + "}"
SINGLE_QUOTED_400 = "{'a': " * 400 + "1" + "}" * 400
FUZZED_FENCE = '{"```json2````'
MIB = 1024 * 1024


LINE = 'He said: "it\'s {fine}, [really]" \\ and left.\n'


def _document(chars: int) -> str:
    """A write_document call cut by a token limit after ``chars`` characters."""
    body = json.dumps(LINE * (chars // len(LINE) + 1))
    return ('{"title": "Report", "content": ' + body)[:chars]


def test_json_nested_1000_deep_is_refused_not_raised() -> None:
    """#12.3, EXE-3: JSON nested 1,000 deep raised RecursionError; now a typed refusal naming
    the tool and the depth limit."""
    with pytest.raises(InvalidArgumentsError, match=r"more than 100 levels deep") as caught:
        parse_arguments("write_document", DEEP_1000)
    assert caught.value.message.startswith("Invalid arguments for `write_document`: ")


def test_single_quoted_json_nested_400_deep_is_refused_not_raised() -> None:
    """#12.3: single-quoted JSON nested 400 deep raised ValueError from the repair library."""
    with pytest.raises(InvalidArgumentsError, match=r"more than 100 levels deep"):
        parse_arguments("write_document", SINGLE_QUOTED_400)


def test_nesting_that_quotes_hide_from_the_scan_is_refused() -> None:
    """#12.3: brackets after '"' in single quotes are structural only to the lenient repair;
    its own depth limit refuses them (they raised RecursionError from json)."""
    with pytest.raises(InvalidArgumentsError, match=r"more than 100 levels deep"):
        parse_arguments("t", """{'a': '"', 'b': """ + "[" * 2000)


def test_fuzzed_fence_text_is_an_object_or_refused() -> None:
    """#12.3: '{"```json2````' raised AssertionError inside the repair library; a string cut
    in a key leaves the object it was in."""
    parsed = parse_arguments("write_document", FUZZED_FENCE)
    assert parsed.value == {}
    assert parsed.text == "{}"


@pytest.mark.parametrize("newline", ["\\n", "\n"])
def test_truncated_code_fence_value_keeps_its_text(newline: str) -> None:
    """#21.4: a code fence inside a string value is content, not markup: the text cut after
    the value was repaired to {"code": {}} (with raw newlines) or {"code": "n{}..."}."""
    parsed = parse_arguments("write_code", '{"code": "```json' + newline + "{}" + newline + '```"')
    assert parsed.value == {"code": "```json\n{}\n```"}
    assert json.loads(parsed.text) == parsed.value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("{'code': '```json\\n{}\\n```'}", {"code": "```json\n{}\n```"}),
        ('{"note": "ends with <|im_end|>"', {"note": "ends with <|im_end|>"}),
        ('{"note": "[ARGS] inside", "n": 1}', {"note": "[ARGS] inside", "n": 1}),
    ],
)
def test_fences_and_template_tokens_inside_values_are_content(
    text: str, value: dict[str, object]
) -> None:
    """#21.4: fences and template tokens are stripped around the whole text, never inside a
    value, repaired or not."""
    assert parse_arguments("t", text).value == value


def test_long_truncated_document_is_closed_keeping_its_text() -> None:
    """#12.4: a 1 MB document cut by the LLM's token limit comes back whole up to the cut
    (the quadratic repair took 20-40 s on the event loop for this)."""
    parsed = parse_arguments("write_document", _document(1_000_000))
    assert parsed.value["title"] == "Report"
    content = parsed.value["content"]
    assert len(content) > 900_000
    assert (LINE * len(content)).startswith(content)


def test_ten_megabyte_argument_is_refused_with_its_length() -> None:
    """#12.4: 10 MB did not finish in 10 minutes; it is refused at once, saying why."""
    with pytest.raises(InvalidArgumentsError, match=r"10,485,760 characters long, more than"):
        parse_arguments("write_document", _document(10 * MIB))


def test_long_malformed_text_is_refused_not_repaired() -> None:
    """#12.4: malformed text too long for the lenient repair, and not JSON cut short, gets a
    message saying so."""
    with pytest.raises(InvalidArgumentsError, match=r"repaired only if they are valid JSON cut"):
        parse_arguments("t", "{" + "key: value, " * 1000 + "}")


def test_many_values_are_refused() -> None:
    """#12.4: more strings, brackets and commas than the limit are refused before parsing."""
    with pytest.raises(InvalidArgumentsError, match=r"more than 16,384 strings, brackets"):
        parse_arguments("t", '{"a": [' + "0," * 20_000 + "0]}")


@function_tool
async def echo(text: str = "") -> str:
    """Echo the text."""
    return text


async def test_malformed_arguments_answer_only_their_own_call() -> None:
    """INV-6, EXE-3: in one LLM step, the call with 1,000-deep arguments is answered "Invalid
    arguments for `echo`", and the other call of the step gets its own answer."""
    host = FakeHost()
    async with ToolExecutor(host) as executor:
        bad = await executor.execute(echo, make_ctx("c1", "echo", DEEP_1000))
        good = await executor.execute(echo, make_ctx("c2", "echo", '{"text": "hi"}'))
    assert bad.output.is_error
    assert bad.output.output.startswith("Invalid arguments for `echo`: ")
    assert good.output.output == "hi"


# -- the loop-stall check (make soak) ------------------------------------------------------


def _stall_texts() -> list[tuple[str, str]]:
    rng = random.Random(12)
    alphabet = "{}[]\"':,`\\ ab01\n"
    numbers = '{"a": [' + ",".join(["0"] * (MIB // 2 - 8))
    return [
        ("truncated document 400 KB", _document(400_000)),
        ("truncated document 800 KB", _document(800_000)),
        ("truncated document 1 MiB", _document(MIB)),
        ("truncated document 10 MB", _document(10 * MIB)),
        ("valid document 1 MiB", _document(MIB - 2) + '"}'),
        ("JSON nested 1,000 deep", DEEP_1000),
        ("brackets 10 MB", "[" * (10 * MIB)),
        ("objects nested to the limit, 1 MiB", '{"a":' * 100 + " " * (MIB - 700) + "}" * 100),
        ("single-quoted nested 400 deep", SINGLE_QUOTED_400),
        ("fuzzed fence", FUZZED_FENCE),
        ("numbers 1 MiB", numbers),
        ("empty arrays 1 MiB", '{"a": [' + "[]," * (MIB // 3 - 4) + "[]]}"),
        ("escapes 1 MiB", '{"a": "' + '\\"' * (MIB // 2 - 8) + '"}'),
        ("template tokens 1 MiB", "<|x|>" * (MIB // 5)),
        ("lenient repair at its limit", "{" + "k: v, " * (8 * 1024 // 6 - 1)),
        ("single quotes at the lenient limit", "{'a': '" + "it\\'s " * (8 * 1024 // 6 - 2)),
        ("garbage 1 MiB", "{" + "".join(rng.choices(alphabet, k=MIB - 1))),
        ("garbage 10 MB", "".join(rng.choices(alphabet, k=10 * MIB))),
    ]


def _longest_gaps(backend: str, texts: list[tuple[str, str]]) -> dict[str, float]:
    """Parse each text on a real event loop while a heartbeat task records its longest gap."""
    longest: dict[str, float] = {}
    current = ["warm-up"]

    async def heartbeat(done: anyio.Event) -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(0.0005)
            now = time.perf_counter()
            longest[current[0]] = max(longest.get(current[0], 0.0), now - last)
            last = now

    async def main() -> None:
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat, done, name="heartbeat")
            await anyio.sleep(0.01)
            for name, text in texts:
                current[0] = name
                await anyio.sleep(0.002)
                with contextlib.suppress(InvalidArgumentsError):
                    parse_arguments("write_document", text)  # sync, as the executor calls it
                await anyio.sleep(0.002)  # the heartbeat wakes first and blames this text
            done.set()

    anyio.run(main, backend=backend)
    longest.pop("warm-up", None)
    return longest


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ANYIO_TOOLS_SOAK"), reason="loop-stall check: make soak")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_no_argument_text_stalls_the_loop_for_50_ms(backend: str) -> None:
    """#12.4: texts up to 10 MB (cut documents, deep nesting, garbage) never block the event
    loop for 50 ms. Prints the longest gap of a heartbeat per text."""
    texts = _stall_texts()
    if only := os.environ.get("ANYIO_TOOLS_STALL_CASES"):  # e.g. to replay one case
        texts = [(name, text) for name, text in texts if name in only.split(";")]
    gaps = _longest_gaps(backend, texts)
    for name, gap in sorted(gaps.items(), key=lambda item: -item[1]):
        print(f"\n  {backend:8} {gap * 1000:7.1f} ms  {name}", end="")
    worst = max(gaps, key=gaps.__getitem__)
    print(f"\nlongest loop stall on {backend}: {gaps[worst] * 1000:.1f} ms ({worst})")
    assert gaps[worst] < 0.050, f"{worst} blocked the loop for {gaps[worst] * 1000:.0f} ms"
