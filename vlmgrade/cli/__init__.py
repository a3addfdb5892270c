"""The `vlmgrade` command: thin subcommands over the library (parser.py builds the flags, commands.py and
runs.py run them). Heavy imports happen inside each command so `vlmgrade --help` stays instant. A user
mistake prints one line on stderr and exits 2; a run whose judgments are mostly unscored exits 3."""

from __future__ import annotations

import sys

from vlmgrade.core.errors import MostlyUnscored, UserError


def one_line(message: str) -> str:
    """An error is one line of printable text whatever it quotes (a path with a newline, a server's multi-line
    message, a name holding an escape sequence)."""
    from vlmgrade.core.fmt import printable

    return " ".join(printable(message).split())


def main(argv: list[str] | None = None) -> int:
    from vlmgrade.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"vlmgrade: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except MostlyUnscored as e:
        print(f"vlmgrade: {one_line(str(e))}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        if args.command == "train":  # the last checkpoint is both resumable and an evaluable model
            print(f"vlmgrade: interrupted; the last checkpoint is in the config's out folder (a model `vlmgrade run "
                  f"--model mine=OUT` grades); rerun `vlmgrade train {args.config}` to resume", file=sys.stderr)
        else:
            print("vlmgrade: interrupted (finished captions and judgments are cached; rerun to resume)",
                  file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
