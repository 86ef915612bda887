"""Repository hygiene checks that run with the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is a test dependency; install with pip install -e '.[test]'")
    proc = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_is_clean():
    mypy = shutil.which("mypy")
    if mypy is None:
        pytest.fail("mypy is a test dependency; install with pip install -e '.[test]'")
    proc = subprocess.run(
        [mypy, "--config-file", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


LAYERS = (
    "cli",
    "run",
    "evals",
    "report",
    "store",
    "plan",
    "spec",
    "sdk",
    "proto",
    "catalog",
    "defaults",
)


def _lint_imports(cwd: Path, *args: str, env: dict[str, str] | None = None):
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.fail("import-linter is a test dependency; install with pip install -e '.[test]'")
    return subprocess.run(
        [lint, "--no-cache", "--config", str(ROOT / "pyproject.toml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_layer_contracts_are_kept():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_each_contract_catches_its_violation(tmp_path):
    """A stand-in package with one violation per contract: every contract reports BROKEN."""
    violations = {
        "sdk": "import xai_pipelines.run\n",  # an import pointing up the layers
        "emulator": "import xai_pipelines.sdk\n",  # the emulator using the client
        "plan": "import xai_pipelines.emulator\n",  # the emulator started outside cli/
        "report": "import xai_pipelines.proto\n",  # the stubs used outside sdk/ and emulator/
    }
    root = tmp_path / "xai_pipelines"
    for name in (*LAYERS, "emulator"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(violations.get(name, ""))
    (root / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = _lint_imports(tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    kept = [line for line in proc.stdout.splitlines() if line.endswith(" KEPT")]
    assert kept == [], proc.stdout
    assert "Contracts: 0 kept, 5 broken." in proc.stdout, proc.stdout
