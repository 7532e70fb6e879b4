"""Command line: ``python -m course_utils.data download mnist fashion_mnist`` and ``... info``.

Exit status: 0 on success, 1 when a download failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ._fetch import MIRRORS_ENV, DownloadError
from ._load import available_elsewhere, download, format_info, info, names


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
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
