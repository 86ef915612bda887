"""The wire-relevant shape of protobuf descriptors, as JSON-able dicts.

Run as a script with ``ours`` or ``xai_sdk`` to print the shape of the project's
stubs or of the official SDK's.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FileDescriptor


def _message(desc: Descriptor, out: dict[str, Any]) -> None:
    fields = {}
    for f in desc.fields:
        fields[f.name] = {
            "number": f.number,
            "type": f.type,
            "repeated": f.is_repeated if hasattr(f, "is_repeated") else f.label == f.LABEL_REPEATED,
            "type_name": (f.message_type or f.enum_type).full_name
            if (f.message_type or f.enum_type)
            else "",
            "oneof": f.containing_oneof.name
            if f.containing_oneof and not f.containing_oneof.name.startswith("_")
            else "",
            "presence": f.has_presence,
        }
    out["messages"][desc.full_name] = fields
    for nested in desc.nested_types:
        if not nested.GetOptions().map_entry:
            _message(nested, out)
    for enum in desc.enum_types:
        _enum(enum, out)


def _enum(desc: EnumDescriptor, out: dict[str, Any]) -> None:
    out["enums"][desc.full_name] = {v.name: v.number for v in desc.values}


def dump(files: list[FileDescriptor]) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": {}, "enums": {}, "services": {}}
    for fd in files:
        if fd.package != "xai_api":
            continue
        for msg in fd.message_types_by_name.values():
            _message(msg, out)
        for enum in fd.enum_types_by_name.values():
            _enum(enum, out)
        for svc in fd.services_by_name.values():
            out["services"][svc.full_name] = {
                m.name: [
                    m.input_type.full_name,
                    m.output_type.full_name,
                    m.client_streaming,
                    m.server_streaming,
                ]
                for m in svc.methods
            }
    return out


def package_files(package: str) -> list[FileDescriptor]:
    pkg = importlib.import_module(package)
    files = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.endswith("_pb2"):
            files.append(importlib.import_module(f"{package}.{info.name}").DESCRIPTOR)
    return files


if __name__ == "__main__":
    which = sys.argv[1]
    package = "xai_pipelines.proto" if which == "ours" else "xai_sdk.proto.v6"
    json.dump(dump(package_files(package)), sys.stdout, sort_keys=True)
