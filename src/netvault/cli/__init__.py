"""Typer commands: thin wrappers that parse, call a domain function, render."""
