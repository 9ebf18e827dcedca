"""How the YAML decoders compare: speed on the bench bundle, and what each
makes of real manifests next to what kubectl makes of them.

The decoder why5xx uses is `kubeyaml` (libyaml through PyYAML, go-yaml v2's
rules for the values: what kubectl sends). The others are measured when
they are importable (they are not dependencies: install them into the
interpreter that runs this to compare): fast_yaml (fastyaml-rs), ryaml,
yaml_rs, PyYAML's own CSafeLoader.

- **speed**: MB/s on the first items of bench/out/cluster.yaml (one core,
  collector paused, best of three), in this one run;
- **meaning**: over every YAML document in tests/, examples/ and the shared
  corpus of public manifests, how many each decoder reads otherwise than
  kubeyaml (a different value, or an error where kubeyaml has a value, or
  the other way round), with a few examples.

This is a benchmark, not a test: tests/test_kubeyaml.py holds kubeyaml to
the kubectl binary.

    python bench/yaml_bench.py [--megabytes 16]
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(ROOT / "src"))

from why5xx.sources import decode, kubeyaml  # noqa: E402

# The public manifests of the shared corpus, when a checkout of it is given
# (WHY5XX_CORPUS) or lies beside the repository.
CORPORA = [
    ROOT / "tests",
    ROOT / "examples",
    Path(os.environ.get("WHY5XX_CORPUS", ROOT.parent / "shared" / "corpus")),
]

Decoder = Callable[[str], Any]


def decoders() -> dict[str, Decoder]:
    """kubeyaml and whichever of the others this interpreter has."""
    import yaml  # noqa: PLC0415

    found: dict[str, Decoder] = {"kubeyaml (why5xx)": kubeyaml.load}
    for name, function, options in (
        ("fast_yaml", "safe_load", {}),
        ("ryaml", "loads", {}),
        ("yaml_rs", "loads", {"parse_datetime": False}),
    ):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found[name] = functools.partial(getattr(module, function), **options)
    found["PyYAML CSafeLoader"] = functools.partial(yaml.load, Loader=yaml.CSafeLoader)
    return found


def sample(megabytes: int) -> str:
    """The first items of the bench bundle's `List`, as one block sequence."""
    path = OUT / "cluster.yaml"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python bench/generate.py` first")
    with path.open("rb") as stream:
        data = stream.read(megabytes << 20)
    return data[data.find(b"\n- ") + 1 : data.rfind(b"\n- ") + 1].decode()


def speed(decode_one: Decoder, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        gc.disable()
        start = time.perf_counter()
        decode_one(text)
        best = min(best, time.perf_counter() - start)
        gc.enable()
        gc.collect()
    return len(text.encode()) / best / 1e6


def documents() -> Iterator[tuple[str, str]]:
    roots = CORPORA
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir() or root.resolve() in seen:
            continue
        seen.add(root.resolve())
        for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for index, chunk in enumerate(decode.split_documents(data), start=1):
                if chunk.strip():
                    yield f"{path}#{index}", chunk.decode("utf-8", "replace")


def outcome(decode_one: Decoder, text: str) -> tuple[str, Any]:
    try:
        return "value", decode_one(text)
    except Exception as exc:  # any refusal counts as one
        return "error", type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--megabytes", type=int, default=16, help="of the bench bundle to parse")
    args = parser.parse_args(argv)
    text = sample(args.megabytes)
    found = decoders()
    corpus = list(documents())
    reference = {where: outcome(kubeyaml.load, body) for where, body in corpus}
    print(
        f"speed on {len(text.encode()) / 1e6:.0f} MB of the bench bundle (one core); meaning on "
        f"{len(corpus)} documents (tests/, examples/, shared corpus) against kubeyaml\n"
    )
    print(f"{'decoder':22} {'MB/s':>6}  {'reads otherwise':>15}  e.g.")
    rows = []
    for name, decode_one in found.items():
        rate = speed(decode_one, text)
        differ = []
        for where, body in corpus:
            if outcome(decode_one, body) != reference[where]:
                differ.append(where)
        example = Path(differ[0].split("#")[0]).name if differ else ""
        print(f"{name:22} {rate:6.1f}  {len(differ):>15}  {example}")
        rows.append({"decoder": name, "mb_per_s": round(rate, 1), "differ": differ})
    OUT.mkdir(exist_ok=True)
    (OUT / "yaml.json").write_text(json.dumps({"documents": len(corpus), "rows": rows}, indent=2))
    print(f"\nwritten: {OUT / 'yaml.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
