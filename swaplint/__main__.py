"""``python -m swaplint``: the ``swaplint`` command."""

from swaplint.cli import main

if __name__ == "__main__":
    main()
