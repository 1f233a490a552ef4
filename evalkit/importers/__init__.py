"""Importers: other tools' evaluation configs turned into evalkit projects.

``importers.promptfoo`` reads a ``promptfooconfig.yaml`` (with the prompt, test and var
files it names) and writes ``evalkit.yaml``, ``prompts/<name>/vN.yaml`` and
``suites/<name>.yaml`` + cases, reporting what it could not convert and why.
"""
