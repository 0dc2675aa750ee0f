"""The catalog's YAML, read strictly, and compiled to JSON by the build.

``python -m tollgate.catalog_yaml [PATH]`` (the layer's Makefile runs it on the bundled
catalog) validates the file and writes ``PATH.json``: the data, with dates as ISO strings, and
the digest of the YAML it came from, so ``tollgate.catalog.load_catalog`` uses it only for that
very text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

import yaml

from tollgate.catalog import (
    COMPILED_SUFFIX,
    DEFAULT_CATALOG_PATH,
    CatalogError,
    parse_catalog,
    source_digest,
)

try:  # libyaml's loader when PyYAML was built with it
    from yaml import CSafeLoader as _YamlLoader
except ImportError:
    from yaml import SafeLoader as _YamlLoader


def load(path: str, text: str) -> object:
    """The data in ``text`` (read from ``path``, which errors name)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid YAML: {_describe_yaml_error(exc)}") from exc


def compile_catalog(path: str | os.PathLike[str] = DEFAULT_CATALOG_PATH) -> str:
    """Validate the catalog at ``path`` and write its compiled copy beside it; its path."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as file:
        text = file.read()
    data = load(path, text)
    catalog = parse_catalog(data)
    compiled = json.dumps({"source_sha256": source_digest(text), "catalog": data}, default=_iso)
    if parse_catalog(json.loads(compiled)["catalog"]) != catalog:
        raise CatalogError(f"{path}: the catalog does not survive JSON")
    with open(path + COMPILED_SUFFIX, "w", encoding="utf-8") as file:
        file.write(compiled)
    return path + COMPILED_SUFFIX


def _iso(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{value!r} has no place in a catalog")


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return problem
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"


class _StrictLoader(_YamlLoader):
    """The safe loader, refusing duplicate mapping keys (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


if __name__ == "__main__":
    print(compile_catalog(*sys.argv[1:2]))
