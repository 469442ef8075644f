"""The ``pzfcodec`` command: one subcommand per module.

Each subcommand module exposes ``add_parser(subparsers)``, which registers
its parser (its description made plain by :func:`help_text`) and sets
``func`` to a callable taking the parsed arguments and returning an exit
status.  Errors are reported here, for every subcommand: a
:class:`pzfcodec.PZFError` or ``OSError`` prints one line and exits 1.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from typing import Optional, Sequence

from .atomic import Interrupted, interrupt_handlers
from .errors import PZFError, one_line

#: subcommand modules, in the order ``--help`` lists them
COMMANDS = ("demo", "info", "convert", "spool_command")


def help_text(doc: str) -> str:
    """A module's docstring as the plain text of ``--help`` (no reST markup)."""
    text = re.sub(r":\w+:`~?([^`<]*?)\s*(<[^>]*>)?`", r"\1", doc)  # :func:`name` -> name
    text = text.replace("``", "").replace("::\n", ":\n")
    return text.strip() + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pzfcodec",
        description="Fast, safe PZF compression of microscopy images; PYME file tools.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {importlib.import_module('pzfcodec').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pzfcodec.{name}").add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``pzfcodec`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # its complaints about damaged files: we print one line
    try:
        with interrupt_handlers():
            return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else 2
        print(f"pzfcodec {args.command}: {exc or 'interrupted'}", file=sys.stderr)
        return 128 + signum
    except (PZFError, OSError) as exc:
        print(f"pzfcodec {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except (MemoryError, RecursionError) as exc:
        print(f"pzfcodec {args.command}: error: the input needs more memory or nesting than this "
              f"process has ({type(exc).__name__})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
