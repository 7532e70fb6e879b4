"""Command line: ``python -m course_utils.data download mnist fashion_mnist``, ``... info`` and ``... check``.

Exit status: 0 on success, 1 when a download failed (or, for ``check``, a dataset is missing), 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ._fetch import MIRRORS_ENV, DownloadError
from ._load import SOURCES, available_elsewhere, check, download, format_info, info, missing_message, names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.data",
        description="Pre-fetch and inspect the course's datasets (MNIST, Fashion-MNIST).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="cache folder (default: $COURSE_DATA_DIR, else the course's data/)")
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser(
        "download", parents=[common], help="download the datasets' files into the cache, verifying each SHA-256"
    )
    dl.add_argument("datasets", nargs="+", metavar="DATASET", help=f"one or more of: {', '.join(names())}")
    dl.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help=f"base URL to try instead of the official mirrors (repeatable; {{name}} is replaced by the dataset "
        f"name; default: ${MIRRORS_ENV}, else the official ones)",
    )
    dl.add_argument("--quiet", action="store_true", help="no progress bars")
    inf = sub.add_parser("info", parents=[common], help="what is cached where, and whether it is verified")
    inf.add_argument("--json", action="store_true", help="print the rows as JSON")
    chk = sub.add_parser("check", parents=[common], help="can every dataset be loaded here? (make test runs it first)")
    chk.add_argument("datasets", nargs="*", metavar="DATASET", help=f"default: all of {', '.join(names())}")
    chk.add_argument("--sources", help=f"comma-separated places to look (default: all of {','.join(SOURCES)})")
    chk.add_argument("--allow-missing", action="store_true",
                     help="report a missing dataset but exit 0 (the tests then skip what needs it)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        sources = args.sources.split(",") if args.sources else None
        try:
            found = check(*args.datasets, data_dir=args.data_dir, sources=sources)
        except ValueError as err:
            parser.error(str(err))
        missing = [name for name, where in found.items() if where is None]
        for name, where in found.items():
            if where is not None:
                print(f"data: {name}: {where}")
        if missing:
            print(missing_message(missing, args.data_dir), file=sys.stderr)
            return 0 if args.allow_missing else 1
        return 0
    if args.command == "info":
        if args.json:
            print(json.dumps(info(args.data_dir), indent=1))
        else:
            print(format_info(args.data_dir))
        return 0
    try:
        report = download(*args.datasets, data_dir=args.data_dir, mirrors=args.mirror, progress=not args.quiet)
    except ValueError as err:  # unknown dataset name, refused mirror URL
        parser.error(str(err))
    except DownloadError as err:
        for dataset, files in getattr(err, "report", {}).items():
            for filename, what in files.items():
                print(f"{dataset}/{filename}: {what}")
        print(f"\nerror: some files could not be downloaded:\n{err}", file=sys.stderr)
        for dataset, files in getattr(err, "report", {}).items():
            where = available_elsewhere(dataset) if "FAILED" in files.values() else None
            if where:
                print(f"note: load_dataset({dataset!r}) works anyway: verified copies of all its files are in {where}.")
        return 1
    for dataset, files in report.items():
        for filename, what in files.items():
            print(f"{dataset}/{filename}: {what}")
    print("All requested files are cached and verified.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
