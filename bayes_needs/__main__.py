"""``python -m bayes_needs``: the same as the ``bayes-needs`` command."""

from bayes_needs.cli import run

if __name__ == "__main__":
    run()
