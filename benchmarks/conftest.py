"""Benchmarks share the tests' data-root rule (skip without data, fail under CI=true)."""
from tests.conftest import data_root  # noqa: F401
