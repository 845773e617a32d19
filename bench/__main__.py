"""``python -m bench [NAME] [options]``: run one benchmark, or every benchmark with no NAME."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from . import apply_bench, gdpr_bench, list_bench

BENCHES: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "list": (
        "GET /api/v1/applications on a large account vs a bare baseline",
        list_bench.add_arguments,
        list_bench.main,
    ),
    "apply": (
        "POST /public/v1/applicants (2 documents) vs a bare baseline",
        apply_bench.add_arguments,
        apply_bench.main,
    ),
    "gdpr": (
        "GDPR export (1 GiB ZIP, PDF) and erasure through the real server",
        gdpr_bench.add_arguments,
        gdpr_bench.main,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="bench")
    for name, (help_text, add_arguments, _) in BENCHES.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bench is not None:
        return BENCHES[args.bench][2](args)
    status = 0
    for name, (_, add_arguments, run) in BENCHES.items():
        defaults = argparse.ArgumentParser()
        add_arguments(defaults)
        print(f"### bench {name}", flush=True)
        status |= run(defaults.parse_args([]))
    return status


if __name__ == "__main__":
    sys.exit(main())
