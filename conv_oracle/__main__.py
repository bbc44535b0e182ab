"""``conv-oracle`` and ``python -m conv_oracle``: the CLI, started so that a Ctrl-C at any point
ends it cleanly. Its imports (NumPy, Hypothesis, rich: about a second) happen here, inside the
handler, not before it: an interrupt then prints one line and exits 130, no traceback (nothing
has been started yet that could be left running)."""
import signal
import sys

INTERRUPTED = 130


def main(argv=None) -> int:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)        # a second Ctrl-C must not interrupt the message
        print("conv-oracle: interrupted", file=sys.stderr)
        return INTERRUPTED
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
