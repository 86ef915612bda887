"""Adaptive concurrency: how many calls a run keeps in flight, learnt from the API's refusals.

The hosted API answers ``RESOURCE_EXHAUSTED`` (HTTP 429) once a team goes over its
per-model requests per second or tokens per minute
(https://docs.x.ai/developers/rate-limits, read 2026-11-29). The run cannot know that
limit in advance, so it keeps a *limit* on the calls in flight, between a floor
and the pipeline's ``execution.concurrency``, and adapts it:

* **cut per episode.** A rate-limit error opens an *episode* and cuts the limit
  once. Errors of calls sent before that cut, and every error within
  :data:`MIN_CUT_INTERVAL_S` of it, belong to the same episode and do not cut again:
  the calls already in flight when the API started refusing are answered after
  the cut was made and say nothing about the new limit. The cut is to
  ``limit * CUT_FACTOR``. When the API refused more than ``1 - CUT_FACTOR`` of the
  calls over the last :data:`ADMITTED_WINDOW_S`, the run is well over a limit (not
  meeting a few refusals that fewer calls would not avoid): the cut then goes down
  to the concurrency the API was admitting (successful calls per second times the
  time each held its place, Little's law, over that window; before a whole window
  has passed, the calls in flight times the share admitted), never below
  ``limit * DEEPEST_CUT`` in one episode; such cuts are :data:`OVERLOAD_CUT_INTERVAL_S`
  apart, and one may follow a gentler cut as soon as calls sent after it are refused.
* **grow back gradually.** Each :data:`GROW_INTERVAL_S` without a cut in which the
  limit was reached (a call had to wait for a place), the limit grows by
  :data:`GROW_FRACTION` of itself (at least :data:`GROW_MIN_STEP`) up to a ceiling (after
  an overload cut the measured admitted level, else halfway back to the level that
  was refused), then by :data:`PROBE_FRACTION` beyond, up to the configured
  concurrency. The limit is a real number; the places are its integer part.
* **retry-after.** A server hint (``retry-after`` trailing metadata or a
  ``google.rpc.RetryInfo`` detail, read by
  :func:`xai_pipelines.sdk.errors.retry_after_hint`) pauses every new call until it
  has passed (at most :data:`MAX_RETRY_AFTER_S`); the failed call's retry waits at
  least as long (``run/attempts.py``).
* **history.** Every change of the integer limit, and every pause, is kept with
  its time since the run started and its reason, bounded by :data:`HISTORY_CAP`
  (consecutive growth steps are one entry); the run writes it into the manifest
  (``concurrency``) and ``usage.json`` copies it.

Prior art: inspect_ai cuts its concurrency by 0.8 per rate-limit episode, at most
once every 15 s, and grows it 5% per clean round (FIELD-NOTES, "Adaptive
concurrency"). We keep its episodes and its 5% growth; a fixed fraction every 15 s
takes minutes to come down from a concurrency far above a limit and, against a
steady share of refusals, never lets the limit grow back, so the cut here depends
on how many calls were refused: deep and quick (to the measured admitted level)
when most were, gentle (0.9) and rarer (5 s) when few were.

Places are held per *call*, not per job: a job takes its place before each attempt
(``AttemptHooks.acquire``) and gives it back when the attempt fails (it waits for
its retry without one) or when the job ends. So jobs waiting to retry never crowd
out calls that could run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from xai_pipelines.records import ConcurrencyHistory, LimitChange

log = logging.getLogger(__name__)

Clock = Callable[[], float]

#: The gentle cut, when few calls were refused. Gentler than inspect_ai's 0.8 because a
#: run well over a limit is cut deeper, by measurement; this factor only trims a limit
#: near the API's, or meets refusals that fewer calls would not avoid. It also says
#: what "well over" is: more than ``1 - CUT_FACTOR`` of the recent calls refused.
CUT_FACTOR = 0.9
#: The deepest cut: one episode never takes the limit below ``limit * DEEPEST_CUT``, so a
#: short or noisy measurement cannot drop a run to its floor at once.
DEEPEST_CUT = 0.25
#: Minimum time between two gentle cuts (an episode's length). Long enough that the
#: growth between them outweighs a cut (0.9 * 1.05 ** 4 > 1), so refusals that come at a
#: steady share whatever the limit cannot drive it to the floor, and that the effect
#: of a cut shows over several of the hosted API's one-second windows; inspect_ai waits
#: 15 s, which holds a limit over the API's that long.
MIN_CUT_INTERVAL_S = 5.0
#: Minimum time between two cuts when the run is well over a limit (more than
#: ``1 - CUT_FACTOR`` of the calls refused): one measurement window, so that each cut
#: is measured on calls sent after the one before.
OVERLOAD_CUT_INTERVAL_S = 2.0
#: Length of a growth round.
GROW_INTERVAL_S = 1.0
#: Growth per round in which the limit was reached, as a fraction of the limit
#: (inspect_ai's 5%): back from a 0.9 cut in about 2 s, from a 0.25 cut in about 30 s.
GROW_FRACTION = 0.05
#: Smallest growth step, so that a small limit grows one place in at most 2 rounds.
GROW_MIN_STEP = 0.5
#: Growth per round above the ceiling, near where the API refused calls: a
#: slow probe (a place per 10 rounds at 10 places), so that the limit lingers just
#: under the level that was refused instead of overshooting it every cycle, and
#: still finds a limit the API raised.
PROBE_FRACTION = 0.01
#: The limit never goes below this many calls in flight: a run always progresses.
FLOOR = 1
#: Window of successful calls from which the admitted concurrency is measured.
ADMITTED_WINDOW_S = 2.0
#: Fewer successful calls than this in the window (or a run younger than the window): no
#: measurement, the cut is ``CUT_FACTOR``.
MIN_SAMPLES = 10
#: First backoff of a call the API refused RESOURCE_EXHAUSTED, in a run (the client's own
#: default, ``sdk.retry.RATE_LIMIT_BACKOFF_S``, is for callers without this limit): one
#: window of the hosted API's per-second limit, after which the window that refused the
#: call has passed. It can be this short because the retry must also take a place, so
#: the limit, not the backoff, keeps the run's pressure on the API down; a longer one
#: mostly delays the run's end (its unluckiest job waits the sum of its backoffs).
RATE_LIMIT_BACKOFF_S = 1.0
#: The backoff of a refused call that is *not* well over a limit (few of the recent calls
#: refused, see :meth:`AdaptiveConcurrency.overloaded`) does not grow with its attempts:
#: it stays one window (``RATE_LIMIT_BACKOFF_S``, with the policy's jitter). Growing
#: backoffs protect an API that is refusing most calls, which the deep cut does here; for
#: sporadic refusals they only make the unluckiest job, refused twice or three times in
#: a row, wait 1 + 2 + 4 s after the others are done (measured: a 3,056-job run with 5%
#: refusals ended 3 s after its last other job).
#: Longest pause a retry-after hint may impose (a larger hint is capped, not obeyed):
#: beyond a minute the job's own deadline and backoff are the better judges.
MAX_RETRY_AFTER_S = 60.0
#: Most entries kept in the history: the first half and the latest half (``dropped``
#: counts what fell in between).
HISTORY_CAP = 200
#: How often a waiting caller looks at ``stop``.
POLL_S = 0.1


@dataclass(frozen=True)
class AdaptiveSettings:
    """The constants of :class:`AdaptiveConcurrency`, overridable for tests.

    Attributes (defaults: the module constants, whose comments say why):
        cut_factor: The gentle cut.
        deepest_cut: Deepest cut in one episode.
        min_cut_interval_s: Minimum time between cuts.
        overload_cut_interval_s: Minimum time between cuts well over a limit.
        grow_interval_s: Length of a growth round.
        grow_fraction: Growth per round in which the limit was reached.
        grow_min_step: Smallest growth step.
        probe_fraction: Growth per round above the last cut's limit.
        floor: Lowest limit.
        admitted_window_s: Window of the admitted-concurrency measurement.
        min_samples: Successful calls needed for that measurement.
        max_retry_after_s: Longest pause from a retry-after hint.
        history_cap: Most history entries kept.
    """

    cut_factor: float = CUT_FACTOR
    deepest_cut: float = DEEPEST_CUT
    min_cut_interval_s: float = MIN_CUT_INTERVAL_S
    overload_cut_interval_s: float = OVERLOAD_CUT_INTERVAL_S
    grow_interval_s: float = GROW_INTERVAL_S
    grow_fraction: float = GROW_FRACTION
    grow_min_step: float = GROW_MIN_STEP
    probe_fraction: float = PROBE_FRACTION
    floor: int = FLOOR
    admitted_window_s: float = ADMITTED_WINDOW_S
    min_samples: int = MIN_SAMPLES
    max_retry_after_s: float = MAX_RETRY_AFTER_S
    history_cap: int = HISTORY_CAP

    def __post_init__(self) -> None:
        if not 0 < self.deepest_cut <= self.cut_factor < 1:
            raise ValueError("need 0 < deepest_cut <= cut_factor < 1")
        if self.floor < 1 or self.history_cap < 4:
            raise ValueError("floor must be at least 1 and history_cap at least 4")


class AdaptiveConcurrency:
    """The limit on calls in flight, shared by every worker of a run (thread-safe).

    Args:
        maximum: The configured concurrency (the limit starts there and never exceeds it).
        settings: Constants (default: the module's).
        clock: Monotonic clock in seconds.
    """

    def __init__(
        self,
        maximum: int,
        settings: AdaptiveSettings | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.settings = s = settings or AdaptiveSettings()
        self.maximum = maximum
        self.floor = min(s.floor, maximum)
        self._clock = clock
        # held directly (``with self._lock``) where nothing waits: the condition's own
        # ``__enter__`` is a Python call in front of the lock's, on every place taken
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        now = clock()
        self._started = now
        self._limit = float(maximum)
        self._ceiling = float(maximum)  # fast growth up to here, probing beyond
        self._in_flight = 0
        self._last_cut = -math.inf
        self._last_overload_cut = -math.inf
        self._round_start = now
        self._saturated = False
        self._pause_until = -math.inf
        self._done: deque[tuple[float, float]] = deque()  # (ended at, held for) of successes
        self._held_sum = 0.0
        self._refused: deque[float] = deque()  # times of rate-limit errors in the window
        self._head: list[LimitChange] = []
        self._tail: deque[LimitChange] = deque(maxlen=s.history_cap - s.history_cap // 2)
        self._dropped = 0
        self.cuts = 0
        self.rate_limited = 0
        self.pauses = 0
        self._record(now, "start")

    # -- places --------------------------------------------------------------------

    def now(self) -> float:
        """The limit's clock (times given to :meth:`note_rate_limited` are on it)."""
        return self._clock()

    @property
    def limit(self) -> int:
        """Calls allowed in flight now (the integer part of the limit)."""
        with self._lock:
            return self._places()

    @property
    def in_flight(self) -> int:
        """Places taken now."""
        with self._lock:
            return self._in_flight

    def _places(self) -> int:
        return max(self.floor, int(self._limit))

    def try_acquire(self) -> float:
        """Take a place if one is free and no pause is in force.

        Returns:
            0.0 when taken, otherwise seconds to wait before trying again (the rest of
            a pause, or :data:`POLL_S` while every place is taken).
        """
        with self._lock:
            now = self._clock()
            self._grow(now)
            if now < self._pause_until:
                return self._pause_until - now
            if self._in_flight >= self._places():
                self._saturated = True
                return POLL_S
            self._in_flight += 1
            return 0.0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a place is free (and no pause is in force), then take it.

        Returns:
            False if ``stop`` was set while waiting (no place is taken then).
        """
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.try_acquire()
            if wait == 0.0:
                return True
            with self._cond:  # woken early by a release, a growth or the end of a pause
                self._cond.wait(min(wait, POLL_S))

    def release(self, held_s: float | None = None) -> None:
        """Give a place back.

        Args:
            held_s: How long the place was held by work that succeeded (None: the
                attempt failed); feeds the admitted-concurrency measurement.
        """
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            now = self._clock()
            if held_s is not None:
                self._done.append((now, held_s))
                self._held_sum += held_s
            self._forget(now)
            self._grow(now)
            self._cond.notify()

    # -- reactions -----------------------------------------------------------------

    def note_rate_limited(
        self, dispatched_at: float | None = None, retry_after_s: float | None = None
    ) -> bool:
        """React to ``RESOURCE_EXHAUSTED``: cut once per episode, pause on a hint.

        Args:
            dispatched_at: When the refused call took its place (clock time); a call
                sent before the last cut belongs to that cut's episode.
            retry_after_s: The server's retry-after hint, if it sent one.

        Returns:
            Whether the limit was cut.
        """
        s = self.settings
        with self._lock:
            now = self._clock()
            self.rate_limited += 1
            self._refused.append(now)
            if retry_after_s is not None:
                self._pause(now, retry_after_s)
            if dispatched_at is not None and dispatched_at < self._last_cut:
                return False
            refused, overloaded = self._refusals(now)
            if overloaded:
                if now - self._last_overload_cut < s.overload_cut_interval_s:
                    return False
            elif now - self._last_cut < s.min_cut_interval_s:
                return False
            before = self._places()
            target = self._limit * s.cut_factor
            if overloaded:
                admitted = self._admitted(now)
                in_use = min(self._limit, self._in_flight + 1)  # the refused call's place is back
                target = in_use * (1 - refused) if admitted is None else admitted
            refused_at = self._limit
            self._limit = max(float(self.floor), self._limit * s.deepest_cut, target)
            # Regrow fast up to the level the API admitted (an overload cut measured it),
            # or halfway back to where it refused; probe slowly beyond.
            self._ceiling = self._limit if overloaded else (self._limit + refused_at) / 2
            self._last_cut = now
            if overloaded:
                self._last_overload_cut = now
            self._round_start = now
            self._saturated = False
            self.cuts += 1
            self._record(now, "cut")
        log.warning(
            "rate limited by the API: calls in flight cut from %d to %d", before, self._places()
        )
        return True

    def overloaded(self) -> bool:
        """Whether the API refused more than ``1 - cut_factor`` of the calls of the last
        :data:`ADMITTED_WINDOW_S` (at least ``min_samples`` of them): well over a limit,
        rather than meeting the odd refusal."""
        with self._lock:
            return self._refusals(self._clock())[1]

    def _refusals(self, now: float) -> tuple[float, bool]:
        """The share of recent calls refused, and whether that is well over a limit."""
        self._forget(now)
        calls = len(self._refused) + len(self._done)
        refused = len(self._refused) / calls if calls else 0.0
        s = self.settings
        return refused, calls >= s.min_samples and refused > 1 - s.cut_factor

    def pause(self, retry_after_s: float) -> None:
        """Hold every new call back for ``retry_after_s`` (a server's hint; capped)."""
        with self._lock:
            self._pause(self._clock(), retry_after_s)

    def _pause(self, now: float, retry_after_s: float) -> None:
        if retry_after_s <= 0:
            return
        pause = min(retry_after_s, self.settings.max_retry_after_s)
        if now + pause > self._pause_until:
            self._pause_until = now + pause
            self.pauses += 1
            self._record(now, "pause", round(pause, 3))

    def _admitted(self, now: float) -> float | None:
        """Concurrency the API admitted over the window (None: too few calls to tell).

        Before the run has lasted a whole window the measure would count only the
        calls that ended, not those still running, and read low: there is none then.
        """
        s = self.settings
        if now - self._started < s.admitted_window_s or len(self._done) < s.min_samples:
            return None
        return self._held_sum / s.admitted_window_s

    def _forget(self, now: float) -> None:
        horizon = now - self.settings.admitted_window_s
        while self._done and self._done[0][0] < horizon:
            self._held_sum -= self._done.popleft()[1]
        while self._refused and self._refused[0] < horizon:
            self._refused.popleft()

    def _grow(self, now: float) -> None:
        s = self.settings
        if now - self._round_start < s.grow_interval_s:
            return
        rounds = int((now - self._round_start) // s.grow_interval_s)
        self._round_start += rounds * s.grow_interval_s
        if not self._saturated or self._limit >= self.maximum:
            self._saturated = False
            return
        self._saturated = False
        before = self._places()
        if self._limit < self._ceiling:
            step = max(s.grow_min_step, self._limit * s.grow_fraction)
            step = min(step, self._ceiling - self._limit)
        else:
            step = self._limit * s.probe_fraction
        self._limit = min(float(self.maximum), self._limit + step)
        if self._places() != before:
            self._record(now, "grow")
            self._cond.notify_all()

    # -- history -------------------------------------------------------------------

    def _record(self, now: float, reason: str, pause_s: float | None = None) -> None:
        entry = LimitChange(at_s=round(now - self._started, 3), limit=self._places(), reason=reason)
        if pause_s is not None:
            entry.pause_s = pause_s
        last = self._tail[-1] if self._tail else (self._head[-1] if self._head else None)
        if reason == "grow" and last is not None and last.reason == "grow":
            last.at_s, last.limit = entry.at_s, entry.limit  # one entry per climb
            return
        if len(self._head) < self.settings.history_cap // 2:
            self._head.append(entry)
            return
        if len(self._tail) == self._tail.maxlen:
            self._dropped += 1
        self._tail.append(entry)

    def history(self) -> ConcurrencyHistory:
        """The limit's history so far, as written into the manifest and ``usage.json``."""
        with self._lock:
            return ConcurrencyHistory(
                maximum=self.maximum,
                floor=self.floor,
                final=self._places(),
                cuts=self.cuts,
                rate_limited=self.rate_limited,
                pauses=self.pauses,
                changes=[*self._head, *self._tail],
                dropped=self._dropped,
            )
