"""Chat jobs: sample, stream (time to first token), n > 1, deferred, and multi-turn."""

from __future__ import annotations

from typing import Any

from xai_pipelines.plan import ChatJob
from xai_pipelines.plan.estimate import job_tokens
from xai_pipelines.records import UNSET, ChatOutput, ChatReply, Turn
from xai_pipelines.run.attachments import aresolve_files, aresolve_turn
from xai_pipelines.run.attempts import AttemptHooks, JobScope
from xai_pipelines.run.jobrun import Executed, JobRunner, call_usage, plain
from xai_pipelines.run.prompt_cache import conversation_id
from xai_pipelines.sdk import Client, Response
from xai_pipelines.sdk.aio import AsyncChat, AsyncClient


def output_record(response: Response) -> ChatOutput:
    """What a result line keeps of one answer."""
    tools = response.server_side_tool_usage
    answer = response.answer()
    return ChatOutput(
        index=response.index,
        content=answer.content,
        reasoning_content=answer.reasoning_content or None,
        tool_calls=[c.to_dict() for c in answer.tool_calls],
        finish_reason=answer.finish_reason,
        citations=list(response.citations),
        response_id=response.id,
        # calls of server-side tools (web_search, code_execution, ...) by tool, as billed
        server_side_tool_usage=dict(tools) if tools else UNSET,
    )


def reply_fields(mode: str, responses: list[Response]) -> ChatReply:
    """The chat part of a result line for the final answers (online runs and batch mode)."""
    outputs = [output_record(r) for r in responses]
    return ChatReply(mode=mode, content=outputs[0].content, outputs=outputs)


#: Completion tokens assumed per output when a request sets no ``max_tokens``.
DEFAULT_COMPLETION_ESTIMATE = 512


def call_estimate(job: ChatJob) -> int:
    """Tokens one call of ``job`` is expected to use (taken from the tokens-per-minute bucket).

    The plan's upper bound for the whole job, spread over its calls; the bucket
    is corrected with the real usage after each call.
    """
    bounds = job_tokens(job)
    n = int(job.request.get("n") or 1)
    completion = bounds.completion_max
    if completion is None:
        completion = DEFAULT_COMPLETION_ESTIMATE * n * bounds.calls
    return -(-(bounds.prompt_max + completion) // bounds.calls)


class ChatRunner(JobRunner):
    """Runs :class:`ChatJob`: its request, then each further turn after appending the reply.

    Args:
        client: The sync client (uploads of local files, the grader).
        hooks: Attempt bookkeeping.
        aclient: The async client the calls go through (same retry policy and hooks).
        **kwargs: As for :class:`JobRunner`.
    """

    kind = "chat"

    def __init__(
        self, client: Client, hooks: AttemptHooks, aclient: AsyncClient, **kwargs: Any
    ) -> None:
        super().__init__(client, hooks, **kwargs)
        self.aclient = aclient

    async def aexecute(self, job: ChatJob, scope: JobScope) -> Executed:
        """Send the conversation, turn by turn, and collect the final outputs.

        Local files are uploaded (once per run) first; every call of the chat carries
        the conversation id of its prompt prefix, for prompt-cache hits.
        """
        params = await aresolve_files(plain(job.request), self.client.uploads)
        model = params.pop("model")
        messages = params.pop("messages", [])
        n = int(params.pop("n", 1) or 1)
        params.setdefault("conversation_id", conversation_id(job.request, job.task))
        chat = self.aclient.chat.create(model, messages, **params)
        # only a tokens-per-minute bucket takes the estimate (and corrects it after the call)
        estimate = call_estimate(job) if self.hooks.limiter.tokens is not None else 0
        done = Executed(calls=0, attempts=0)
        turns: list[Turn] = []
        responses = await self._ask(chat, job.mode, n, estimate, scope, done)
        for turn in job.turns:
            turns.append(Turn(user=plain(turn), outputs=[output_record(r) for r in responses]))
            chat.append(responses[0])
            chat.append(dict(await aresolve_turn(plain(turn), self.client.uploads)))
            responses = await self._ask(chat, job.mode, n, estimate, scope, done)
        done.reply = reply_fields(job.mode, responses)
        if turns:
            done.reply.turns = turns
        return done

    async def _ask(
        self, chat: AsyncChat, mode: str, n: int, estimate: int, scope: JobScope, done: Executed
    ) -> list[Response]:
        await self.hooks.aacquire(estimate)
        timeout = self.call_timeout(scope)
        if mode == "stream":
            responses: list[Response] = []
            if n == 1:
                async for one, _chunk in chat.stream(timeout=timeout):
                    responses = [one]
            else:
                async for some, _chunk in chat.stream_batch(n, timeout=timeout):
                    responses = some
            if responses:
                done.ttft_s = responses[0].ttft_s
        elif mode == "defer":
            wait = 600.0 if timeout is None else timeout
            responses = (
                [await chat.defer(timeout=wait)]
                if n == 1
                else await chat.defer_batch(n, timeout=wait)
            )
        else:
            responses = (
                [await chat.sample(timeout=timeout)]
                if n == 1
                else await chat.sample_batch(n, timeout=timeout)
            )
        usage = call_usage(responses[0].usage)
        self.hooks.limiter.reconcile(estimate, usage.tokens)
        done.add_usage(usage)
        done.calls += 1
        done.attempts += responses[0].attempts
        return responses
