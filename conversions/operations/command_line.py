"""``flask --app app --help``: the service's commands, each with its one-line purpose, are the
list; Flask's generic ones (``run``, ``shell``, ``routes``) and Flask-Limiter's ``limiter``
group are named after it, and still run.

Flask prints its own description before it loads the app and sorts the list by name, so
this is as far as Click lets an app go: once loaded it marks the commands it did not add
hidden and sets the epilog, which Click writes after the list.
"""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

EPILOG = ("Also there, not the service's own: {names} (Flask's and its extensions' "
          "commands; 'flask COMMAND --help' explains each).")


def init_app(app: Flask) -> None:
    """Relabel ``flask``'s list when it is loading the app (call it after every command is
    added)."""
    context = click.get_current_context(silent=True)
    root = context.find_root().command if context is not None else None
    if not isinstance(root, FlaskGroup):
        return
    generic = sorted(name for name in root.commands if name not in app.cli.commands)
    for name in generic:
        root.commands[name].hidden = True
    root.epilog = EPILOG.format(names=", ".join(generic))
