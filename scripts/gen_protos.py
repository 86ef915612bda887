"""Regenerate the Python gRPC stubs in ``xai_pipelines/proto`` from ``protos/``.

Usage::

    python scripts/gen_protos.py            # rewrite the checked-in stubs
    python scripts/gen_protos.py --check    # exit 1 if the checked-in stubs are stale

The sources live under ``protos/xai_pipelines/proto/`` and are compiled with
``-I protos`` so the generated modules import each other as
``xai_pipelines.proto.<name>_pb2``. Pin ``grpcio-tools`` (see pyproject's
``test`` extra): another version writes different code.

The generated modules register their descriptors in a private pool
(``xai_pipelines.proto._pool.POOL``), not protobuf's default pool: the official
``xai_sdk`` registers the same ``xai_api.*`` names there, and both packages must
import into one process. The rewrite of the one ``Default()`` line per module is
done here, so the checked-in stubs stay exactly what this script writes.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PROTO_DIR = PROTO_ROOT / "xai_pipelines" / "proto"
OUT_PACKAGE = ROOT / "xai_pipelines" / "proto"
INIT_TEXT = '"""Generated protobuf and gRPC stubs (package ``xai_api``). Do not edit by hand."""\n'
POOL_TEXT = '''"""The private descriptor pool of the generated stubs (written by scripts/gen_protos.py).

Our ``xai_api.*`` messages live here rather than in protobuf's default pool, where
the official ``xai_sdk`` registers the same names. Well-known types that our
messages embed are added first; message fields of those types are instances of the
classes below (not of ``google.protobuf.timestamp_pb2.Timestamp``), so build them
with these classes or through the field (``msg.created.FromSeconds(...)``).
"""

from google.protobuf import any_pb2, descriptor_pool, empty_pb2, message_factory, timestamp_pb2
from google.rpc import status_pb2

POOL = descriptor_pool.DescriptorPool()
for _module in (any_pb2, empty_pb2, timestamp_pb2, status_pb2):
    POOL.AddSerializedFile(_module.DESCRIPTOR.serialized_pb)

Timestamp = message_factory.GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Timestamp"))
Status = message_factory.GetMessageClass(POOL.FindMessageTypeByName("google.rpc.Status"))

__all__ = ["POOL", "Status", "Timestamp"]
'''
DEFAULT_POOL_LINE = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
PRIVATE_POOL_LINE = (
    "from xai_pipelines.proto import _pool\nDESCRIPTOR = _pool.POOL.AddSerializedFile("
)


def _use_private_pool(module: Path) -> None:
    text = module.read_text()
    if text.count(DEFAULT_POOL_LINE) != 1:
        raise SystemExit(f"{module.name}: expected one default-pool registration")
    module.write_text(text.replace(DEFAULT_POOL_LINE, PRIVATE_POOL_LINE))


def _include_dirs() -> list[str]:
    import google.rpc.status_pb2
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(google.rpc.status_pb2.__file__).parent.parent.parent
    return [str(PROTO_ROOT), str(well_known), str(googleapis)]


def generate(out_root: Path) -> Path:
    """Compile every proto into ``out_root/xai_pipelines/proto`` and return that folder."""
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_DIR.glob("*.proto"))
    args = ["grpc_tools.protoc"]
    args += [f"-I{d}" for d in _include_dirs()]
    args += [f"--python_out={out_root}", f"--pyi_out={out_root}", f"--grpc_python_out={out_root}"]
    args += protos
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    target = out_root / "xai_pipelines" / "proto"
    (target / "__init__.py").write_text(INIT_TEXT)
    (target / "_pool.py").write_text(POOL_TEXT)
    for module in sorted(target.glob("*_pb2.py")):
        _use_private_pool(module)
    return target


def _diff(fresh: Path, current: Path) -> list[str]:
    names = sorted({p.name for p in fresh.iterdir()} | {p.name for p in current.glob("*.py*")})
    stale = []
    for name in names:
        a, b = fresh / name, current / name
        if not a.exists() or not b.exists() or not filecmp.cmp(a, b, shallow=False):
            stale.append(name)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if checked-in stubs are stale")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        if ns.check:
            stale = _diff(fresh, OUT_PACKAGE)
            for name in stale:
                a, b = fresh / name, OUT_PACKAGE / name
                if a.exists() and b.exists():
                    sys.stdout.writelines(
                        difflib.unified_diff(
                            b.read_text().splitlines(True),
                            a.read_text().splitlines(True),
                            f"checked-in/{name}",
                            f"fresh/{name}",
                            n=1,
                        )
                    )
            if stale:
                print(
                    f"stale generated stubs: {', '.join(stale)}; run python scripts/gen_protos.py"
                )
                return 1
            print("generated stubs are current")
            return 0
        if OUT_PACKAGE.exists():
            shutil.rmtree(OUT_PACKAGE)
        shutil.copytree(fresh, OUT_PACKAGE)
    print(f"wrote {OUT_PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
