"""Turns the YAML shapes of messages and parameters into the JSON request form.

The pipeline file uses short forms (``- user: Hi``, ``response_format: {json_schema: file}``,
``format: url``); the plan and the SDK share the request form of
docs/ARCHITECTURE.md. Everything here works on trees whose templated strings
are already :class:`~xai_pipelines.spec.templating.Tpl` leaves, so templates
survive the conversion with their YAML positions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from xai_pipelines.spec.errors import PathT, Problem
from xai_pipelines.spec.files import FileProblem, PipelineFiles, is_url
from xai_pipelines.spec.templating import FileRef, Tpl
from xai_pipelines.spec.yaml_source import Positions

#: Keys of the short message form (``- user: Hi``), each naming its role.
ROLES = ("system", "developer", "user", "assistant", "tool")
EMPTY_PARAMETERS = {"type": "object", "properties": {}}


class Normalizer:
    """Converts one pipeline's messages and parameters, collecting file problems.

    Args:
        files: File access for schema and image files.
        positions: Positions for problems.
        render_static: Renders a pipeline-wide value (a file path); ``None`` when it
            failed (the problem is recorded).
    """

    def __init__(
        self,
        files: PipelineFiles,
        positions: Positions,
        render_static: Callable[[Any, PathT], Any],
    ) -> None:
        self.files = files
        self.positions = positions
        self.render_static = render_static
        self.problems: list[Problem] = []

    def _file_problem(self, at: PathT, message: str) -> None:
        self.problems.append(self.positions.problem(at, message))

    def schema_file(self, value: Any, at: PathT) -> Any:
        """An inline schema as is, or the contents of a schema file."""
        if isinstance(value, Tpl):
            value = self.render_static(value.text, value.path)
            if value is None:  # the template's problem is recorded
                return {}
        if not isinstance(value, str):
            return value
        try:
            return self.files.read_json_schema(value)
        except FileProblem as exc:
            self._file_problem(at, str(exc))
            return {}

    def image_ref(self, value: str | Tpl, at: PathT) -> FileRef:
        """An image file reference; a literal path is checked now."""
        if isinstance(value, str):
            try:
                self.files.image_data_url(value)
            except FileProblem as exc:
                self._file_problem(at, str(exc))
        return FileRef(value, "image", at)

    def attachment_ref(self, value: str | Tpl, at: PathT) -> FileRef:
        """A file attached to a message (``{type: file, path: ...}``); a literal path is checked now."""
        if isinstance(value, str):
            try:
                self.files.attachment(value)
            except FileProblem as exc:
                self._file_problem(at, str(exc))
        return FileRef(value, "attachment", at)

    def image_input(self, value: Any, at: PathT) -> Any:
        """An input image of an image job: a URL as is, ``{file_id}``, or a local file to upload."""
        if isinstance(value, Mapping):
            return {"file_id": value["file_id"]}
        if isinstance(value, str):
            if is_url(value):
                return value
            try:
                self.files.attachment(value, image=True)
            except FileProblem as exc:
                self._file_problem(at, str(exc))
        return FileRef(value, "image_input", at)

    def message(self, msg: Mapping[str, Any], at: PathT) -> dict[str, Any]:
        """One message in request form, from either way of writing it.

        ``{user: ...}`` (short form) and OpenAI-style ``{role: user, content: ...}``
        both become ``{"role": "user", "content": ...}``; an assistant message with
        ``tool_calls`` and no content gets ``""`` in both forms, so one message has
        one request form (and one digest) however it was written.
        """
        if "role" in msg:
            role, key = str(msg["role"]), "content"
            self._check_role_form(msg, role, at)
        else:
            role = key = next(r for r in ROLES if r in msg)
        content = msg.get(key)
        out: dict[str, Any] = {"role": role}
        if isinstance(content, list):
            out["content"] = [self.part(p, (*at, key, i)) for i, p in enumerate(content)]
        else:
            out["content"] = "" if content is None else content
        if "name" in msg:
            out["name"] = msg["name"]
        if "tool_call_id" in msg:
            out["tool_call_id"] = msg["tool_call_id"]
        if "tool_calls" in msg:
            out["tool_calls"] = [self._tool_call(c) for c in msg["tool_calls"]]
        return out

    def _check_role_form(self, msg: Mapping[str, Any], role: str, at: PathT) -> None:
        """What the schema leaves to us for ``{role, content}``: the keys each role takes."""
        if msg.get("content") is None and not (role == "assistant" and msg.get("tool_calls")):
            self.problems.append(
                self.positions.problem(
                    (*at, "content") if "content" in msg else at,
                    f"missing content (role: {role}; only an assistant message with "
                    "tool_calls may have none)",
                )
            )
        for key, needed in (("tool_call_id", "tool"), ("tool_calls", "assistant")):
            if key in msg and role != needed:
                self.problems.append(
                    self.positions.problem(
                        (*at, key),
                        f"'{key}' is only allowed with role: {needed} (this message's role "
                        f"is {role})",
                        key=True,
                    )
                )

    def part(self, part: Mapping[str, Any], at: PathT) -> Any:
        """One content part in request form (a :class:`FileRef` for an attached file)."""
        if "text" in part:
            return {"type": "text", "text": part["text"]}
        if "file_id" in part:
            return {"type": "file", "file_id": part["file_id"]}
        if "path" in part:
            return self.attachment_ref(part["path"], (*at, "path"))
        detail = part.get("detail", "auto")
        image_url = part.get("image_url")
        if isinstance(image_url, Mapping):  # OpenAI-style {url, detail}
            return {
                "type": "image_url",
                "image_url": image_url["url"],
                "detail": image_url.get("detail", detail),
            }
        if "image_file" in part:
            return {
                "type": "image_url",
                "image_url": self.image_ref(part["image_file"], (*at, "image_file")),
                "detail": detail,
            }
        return {"type": "image_url", "image_url": part["image_url"], "detail": detail}

    @staticmethod
    def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
        function = dict(call["function"])
        args = function.get("arguments", "{}")
        if isinstance(args, Mapping):
            function["arguments"] = json.dumps(args, sort_keys=True, ensure_ascii=False)
        return {"id": call["id"], "function": function}

    def chat_param(self, key: str, value: Any, at: PathT) -> Any:
        """One chat parameter in request form."""
        if key == "stop" and not isinstance(value, list):
            return [value]
        if key == "response_format" and isinstance(value, Mapping):
            out = {
                "type": "json_schema",
                "schema": self.schema_file(value["json_schema"], (*at, "json_schema")),
            }
            if "name" in value:
                out["name"] = value["name"]
            return out
        if key == "tools":
            return [self._tool(t, (*at, i)) for i, t in enumerate(value)]
        return value

    def _tool(self, tool: Mapping[str, Any], at: PathT) -> dict[str, Any]:
        out = dict(tool)
        if tool["type"] == "function":
            out["parameters"] = self.schema_file(
                tool.get("parameters", EMPTY_PARAMETERS), (*at, "parameters")
            )
        return out

    def image_param(self, key: str, value: Any, at: PathT) -> tuple[str, Any]:
        """One image parameter as ``(request key, value)``."""
        if key == "format":
            return "image_format", value
        if key == "image_file":
            return "image_url", self.image_ref(value, at)
        if key == "image_url":
            return key, self.image_input(value, at)
        if key == "image_urls":
            return key, [self.image_input(v, (*at, i)) for i, v in enumerate(value)]
        return key, value

    def assertion(self, assertion: Mapping[str, Any], at: PathT) -> dict[str, Any]:
        """An ``expect`` entry, with its schema files (json_schema, tool_call arguments) loaded."""
        out = dict(assertion)
        if "json_schema" in out:
            out["json_schema"] = self.schema_file(out["json_schema"], (*at, "json_schema"))
        call = out.get("tool_call")
        if isinstance(call, Mapping) and "arguments" in call:
            where = (*at, "tool_call", "arguments")
            out["tool_call"] = {**call, "arguments": self.schema_file(call["arguments"], where)}
        return out
