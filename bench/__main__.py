"""``python -m bench [NAME] [--quick] [options]``: one benchmark, or every one with no NAME.

Each starts its own embedded PostgreSQL and S3, serves the real app and the bare baseline
(``bench.baseline``) under uvicorn, and prints a summary; with no NAME, the ratios of every
benchmark against the bare baseline close the run. ``--quick``: small data and short runs (< 2 min).
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from . import (
    apply_bench,
    candidates_bench,
    fault_bench,
    gdpr_bench,
    list_bench,
    one_bench,
    scaling_bench,
    webhook_bench,
)
from .harness import embedded, section

BENCHES: dict[str, tuple[str, ModuleType]] = {
    "apply": ("POST /public/v1/applicants (2 documents) vs the bare baseline", apply_bench),
    "gdpr": ("GDPR export (1 GiB ZIP, PDF) and erasure, vs boto3 and the bare pass-through", gdpr_bench),
    "one": ("GET /api/v1/applications/{id} and a move (PUT …/status) vs the bare baseline; RSS", one_bench),
    "webhooks": ("webhook deliveries per second to a local receiver, 1 and 2 delivering processes", webhook_bench),
    "list": ("GET /api/v1/applications on a large account vs the bare baseline", list_bench),
    "scaling": ("the applications list at 20k, 200k and 1M rows: page 1, a deep cursor page, a search", scaling_bench),
    "faults": (
        "PostgreSQL crashed and S3 killed under load: 500s (must be 0), recovery, orphans after a sweep",
        fault_bench,
    ),
    "candidates": ("GET /api/v1/candidates/{id}/duplicates at 1M candidates: p95, the indexes used", candidates_bench),
}


def add_common(parser: argparse.ArgumentParser, default: object = False) -> None:
    # A subcommand's options must not reset the same ones given before it (hence SUPPRESS there).
    quick = "small data, short runs: every benchmark in < 2 min"
    parser.add_argument("--quick", action="store_true", default=default, help=quick)
    parser.add_argument("--keep-data", action="store_true", default=default, help="keep the temporary data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add_common(parser)
    sub = parser.add_subparsers(dest="bench")
    for name, (help_text, module) in BENCHES.items():
        one = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        add_common(one, argparse.SUPPRESS)
        module.add_arguments(one)
    return parser


def arguments(name: str, args: argparse.Namespace, shared: object = None) -> argparse.Namespace:
    """``args`` for benchmark ``name``: its defaults (with no NAME), then ``--quick``'s settings."""
    module = BENCHES[name][1]
    if args.bench is None:
        defaults = argparse.ArgumentParser()
        module.add_arguments(defaults)
        args = argparse.Namespace(**{**vars(defaults.parse_args([])), **vars(args)})
    if args.quick:
        for key, value in module.QUICK.items():
            setattr(args, key, value)
    args.shared = shared
    return args


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.bench:
        summaries = [BENCHES[args.bench][1].main(arguments(args.bench, args))]
    else:  # one set of embedded services for all (the list's large account last: the others' tables stay small)
        with embedded(args.keep_data) as shared:
            summaries = [BENCHES[name][1].main(arguments(name, args, shared)) for name in BENCHES]
    if len(summaries) > 1:
        section("ratios against the bare baseline")
        ratios = [line for summary in summaries for line in summary.ratios]
        width = max(len(name) for name, _ in ratios)
        for name, text in ratios:
            print(f"  {name:<{width}}  {text}")
        for summary in summaries:
            for problem in summary.problems:
                print(f"  ! {summary.bench}: {problem.splitlines()[0]}")
    return 0  # findings are printed, as figures: they do not fail the command


if __name__ == "__main__":
    sys.exit(main())
