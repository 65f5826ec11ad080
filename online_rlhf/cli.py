"""Argument parsing shared by the rule scripts: JSON-valued options and one logger per script."""

from __future__ import annotations

import argparse
import json
import logging


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {text[:200]!r}") from err


def parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
