"""``scalelaw`` and ``python -m scalelaw``: the arguments are parsed before the modules that fit,
read and report load, so that ``--help`` and a mistyped flag answer at once."""
import sys

from .cli_args import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
