"""Styles named once, so every renderer speaks the same visual language."""

from rich.theme import Theme

THEME = Theme(
    {
        "title": "bold",
        "good": "green",
        "warn": "yellow",
        "bad": "bold red",
        "dim": "dim",
        "num": "cyan",
        "key": "bold cyan",
    }
)
