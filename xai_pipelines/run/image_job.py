"""Image jobs: generate ``n`` images of one prompt and save every one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import msgspec

from xai_pipelines.plan import ImageJob
from xai_pipelines.records import ImageRecord, ImageReply
from xai_pipelines.run.attachments import aresolve_files
from xai_pipelines.run.attempts import AttemptHooks, JobScope
from xai_pipelines.run.jobrun import Executed, JobRunner, call_usage, plain, replayed_usage
from xai_pipelines.run.outcome import DeferredWrite
from xai_pipelines.sdk import Client, ImageResponse
from xai_pipelines.sdk.aio import AsyncClient, AsyncImageResponse
from xai_pipelines.sdk.image_bytes import extension_for, sniff_mime
from xai_pipelines.store import OutputDir, WriteError

if TYPE_CHECKING:
    from xai_pipelines.run.cache import CacheEntry


def save_or_defer(out: OutputDir, job_id: str, index: int, data: bytes, done: Executed) -> Path:
    """Save image ``index`` of ``job_id`` atomically, or keep its bytes in ``done.deferred``.

    A failed write (disk full, read-only directory) must not lose an image the
    API made and billed: its bytes stay in memory, the sink writes them before
    the job's line (see :mod:`xai_pipelines.run.sink`). Once one image of the job
    failed, the others are kept without trying.

    Returns:
        The image's path (written, or to be written).
    """
    ext = extension_for(data).lstrip(".")
    path = out.image_path(job_id, index, ext)
    save = partial(_save, out, job_id, index, ext, data, path)
    if not done.deferred:
        try:
            save()
            return path
        except WriteError as exc:
            done.deferred.append(DeferredWrite(path, save, exc))
            return path
    done.deferred.append(DeferredWrite(path, save, done.deferred[0].error))
    return path


def _save(out: OutputDir, job_id: str, index: int, ext: str, data: bytes, path: Path) -> None:
    try:
        out.save_image(job_id, index, ext, data)
    except OSError as exc:
        raise WriteError(path, exc) from exc


class ImageRunner(JobRunner):
    """Runs :class:`ImageJob` and writes ``images/<job-id>/<index>.<ext>``.

    Args:
        client: The sync client (uploads of local input images, the grader).
        hooks: Attempt bookkeeping.
        out: The output directory images are saved in.
        aclient: The async client the calls go through.
        **kwargs: As for :class:`JobRunner`.
    """

    kind = "image"

    def __init__(
        self,
        client: Client,
        hooks: AttemptHooks,
        out: OutputDir,
        aclient: AsyncClient,
        **kwargs: Any,
    ) -> None:
        super().__init__(client, hooks, **kwargs)
        self.out = out
        self.aclient = aclient

    async def aexecute(self, job: ImageJob, scope: JobScope) -> Executed:
        """Upload local input images (once per run), generate, then save each image atomically.

        ``url`` images are downloaded off the loop (the async client's downloader runs
        on the pool), and the files are written on the pool.
        """
        params = await aresolve_files(plain(job.request), self.client.uploads)
        prompt = params.pop("prompt")
        model = params.pop("model")
        n = int(params.pop("n", 1) or 1)
        await self.hooks.aacquire(0)
        self.call_timeout(scope)  # raises once the job's deadline has passed
        images: list[AsyncImageResponse] = (
            [await self.aclient.image.sample(prompt, model, **params)]
            if n == 1
            else await self.aclient.image.sample_batch(prompt, n, model, **params)
        )
        payloads = [await img.image for img in images]
        return await asyncio.to_thread(
            saved_images, self.out, job.id, prompt, model, images, payloads
        )

    def replay(self, job: ImageJob, entry: CacheEntry) -> Executed:
        """The cached images written into this output directory, each atomically."""
        fields = dict(entry.record.get("fields") or {})
        stored_images = fields.pop("images", ())
        reply = msgspec.convert({**fields, "images": []}, ImageReply)
        done = Executed(reply=reply, usage=replayed_usage(entry), calls=0, attempts=0)
        for stored in stored_images:
            record = msgspec.convert(
                {k: v for k, v in stored.items() if k != "sha256"}, ImageRecord
            )
            data = entry.blobs[stored["sha256"]]
            path = save_or_defer(self.out, job.id, record.index, data, done)
            record.path = self.out.relative(path)
            reply.images.append(record)
            done.files[record.index] = path
        return done


def saved_images(
    out: OutputDir,
    job_id: str,
    prompt: str,
    model: str,
    images: Sequence[ImageResponse | AsyncImageResponse],
    payloads: Sequence[bytes] | None = None,
) -> Executed:
    """Save each image of one call atomically; the image part of its result line.

    Shared by online runs and batch mode, so both write the same lines and files.
    An image that cannot be written is kept in ``deferred`` (see :func:`save_or_defer`).
    ``payloads``: the images' bytes, already loaded (async responses); else each
    ``ImageResponse.image`` is read here.
    """
    records = []
    files = {}
    done = Executed()
    for i, img in enumerate(images):
        data = payloads[i] if payloads is not None else cast(ImageResponse, img).image
        path = save_or_defer(out, job_id, img.index, data, done)
        files[img.index] = path
        records.append(
            ImageRecord(
                index=img.index,
                path=out.relative(path),
                url=img.url,
                mime_type=sniff_mime(data),
                bytes=len(data),
                respect_moderation=img.respect_moderation,
            )
        )
    return Executed(
        reply=ImageReply(
            prompt=prompt, image_model=images[0].model if images else model, images=records
        ),
        usage=call_usage(images[0].usage, images=len(images)) if images else None,
        calls=1,
        attempts=images[0].attempts if images else 1,
        files=files,
        deferred=done.deferred,
    )
