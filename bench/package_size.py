"""Unzipped size of each built function plus the shared layer (needs `make build` first).

Lambda's limit is 250 MB unzipped for a function and all its layers together.
"""

from __future__ import annotations

from pathlib import Path

from devstack.template import ROOT, Template

BUILD = ROOT / ".aws-sam" / "build"
LIMIT_MB = 250


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def report() -> None:
    if not BUILD.exists():
        print("package size: no .aws-sam/build; run `make build` first")
        return
    layer = size_mb(BUILD / "CommonLayer")
    print(f"unzipped size (limit {LIMIT_MB} MB per function with its layers)")
    print(f"  {'CommonLayer':<24} {layer:8.1f} MB")
    for logical_id in sorted(Template.load().functions()):
        own = size_mb(BUILD / logical_id)
        print(f"  {logical_id:<24} {own:8.3f} MB  (+ layer = {own + layer:.1f} MB)")
