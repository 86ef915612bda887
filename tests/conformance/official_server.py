"""The official xai-sdk's own fake gRPC server, fetched from its sdist at test time.

``tests/server.py`` of the xai-sdk sdist is a server this project did not write: its
servicers answer as the official SDK's tests expect. The sdist of the version pinned
in pyproject's ``test`` extra is fetched with ``pip download --no-deps --no-binary
:all:`` into a cache that survives between runs (``$XDG_CACHE_HOME/xai-pipelines``,
default ``~/.cache/xai-pipelines``; never the repository), and ``server.py`` is
imported from there next to its ``test.jpg``. A failed download is an error, never a
skip: without this server the conformance claim is unproven.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
#: Files taken from the sdist, relative to its top folder.
SERVER_FILES = ("tests/server.py", "tests/test.jpg")


class OfficialServerUnavailable(RuntimeError):
    """The sdist could not be fetched or does not hold the test server."""


def pinned_version() -> str:
    """The xai-sdk version pinned (``==``) in pyproject's ``test`` extra."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for requirement in data["project"]["optional-dependencies"]["test"]:
        name, sep, version = requirement.partition("==")
        if sep and name.strip() == "xai-sdk":
            return version.strip()
    raise OfficialServerUnavailable("pyproject's test extra does not pin xai-sdk with ==")


def cache_root() -> Path:
    """Where fetched sdists are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xai-pipelines"


def _download(version: str, into: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--disable-pip-version-check", "--quiet", f"xai-sdk=={version}", "-d", str(into),
    ]  # fmt: skip
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as exc:
        raise OfficialServerUnavailable(f"pip download timed out: {' '.join(command)}") from exc
    archives = sorted(into.glob("xai_sdk-*.tar.gz"))
    if proc.returncode != 0 or not archives:
        raise OfficialServerUnavailable(
            f"could not download the xai-sdk {version} sdist ({' '.join(command)}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return archives[0]


def _extract(archive: Path, version: str, into: Path) -> None:
    top = f"xai_sdk-{version}"
    with tarfile.open(archive) as tar:
        for relative in SERVER_FILES:
            try:
                member = tar.getmember(f"{top}/{relative}")
            except KeyError:
                raise OfficialServerUnavailable(f"{archive.name} has no {relative}") from None
            source = tar.extractfile(member)
            if source is None:
                raise OfficialServerUnavailable(f"{archive.name}: {relative} is not a file")
            (into / Path(relative).name).write_bytes(source.read())


def fetch(version: str | None = None) -> Path:
    """The folder holding ``server.py`` and ``test.jpg`` of the pinned sdist (cached).

    Raises:
        OfficialServerUnavailable: When the sdist cannot be downloaded or lacks the files.
    """
    version = version or pinned_version()
    final = cache_root() / f"xai-sdk-{version}"
    if all((final / Path(f).name).is_file() for f in SERVER_FILES):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    # Several test processes may fetch at once: build aside, then rename into place.
    work = Path(tempfile.mkdtemp(prefix=f".xai-sdk-{version}-", dir=final.parent))
    try:
        archive = _download(version, work / "sdist")
        staged = work / "server"
        staged.mkdir()
        _extract(archive, version, staged)
        shutil.copy2(archive, staged / archive.name)
        try:
            staged.rename(final)
        except OSError:
            if not (final / "server.py").is_file():
                shutil.rmtree(final, ignore_errors=True)
                staged.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def load(folder: Path) -> ModuleType:
    """Import ``server.py`` from ``folder`` as a module of its own."""
    name = f"xai_sdk_official_test_server_{folder.name.replace('.', '_').replace('-', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, folder / "server.py")
    if spec is None or spec.loader is None:
        raise OfficialServerUnavailable(f"cannot import {folder / 'server.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
