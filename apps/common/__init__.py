"""What every app's command line shares, and the only place apps touch Hydra besides their ``train.py``.

Not an app: the glue between Hydra and a recipe (``hydra_config``: compose the real files, turn a config into
plain dicts, list a group's options) and the command-line conventions (``cli``: one-line errors with exit 2,
``SPARSELAB_DEBUG=1`` for tracebacks, one summary line at the end of every run). ``core`` never imports Hydra,
so this cannot live there; apps import it, and it imports no app.
"""
