"""``python -m bends`` is the ``bends`` command."""

from bends.cli import main

if __name__ == "__main__":
    main()
