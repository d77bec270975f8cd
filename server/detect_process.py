"""The detect role in a process of its own, started and kept running by `server run` (`HSI_DETECT_PROCESS`).

Decoding, the detector's pre- and post-processing and the detect worker's commits are Python. In the
server's process they take turns on one interpreter lock with the watcher, intake, the API and the
analyzer; in a process of its own the detect worker has a lock of its own. On the 2-core benchmark
machine the pipeline then keeps up with more images a second at less CPU per image (`python -m
bench.pipeline`; the figures are in the README's Performance section), for the memory of a second
interpreter with the detector's libraries (about 150 MiB at idle with SSD-MobileNet). Frigate runs its
detectors in processes of their own for the same reason.

The roles share nothing in memory: detections reach the event batches, and the detector's health the
API, through Redis. So the child runs `server.runner.serve_detect_process`: `serve(settings, ["detect"])`
with the parent's settings, pointed at the parent's PostgreSQL and Redis (embedded ones are the
parent's: the child must not start its own). It is started with multiprocessing's `spawn` (a fresh
interpreter: no event loop, threads or CUDA state copied from the parent), restarted after a crash
(after 1 s, doubling up to a minute while it keeps crashing at start), and stopped with SIGTERM (SIGKILL
after `STOP_SECONDS`) before the parent closes the stores; it stops by itself when the parent is gone.
Other detect workers (`python -m server worker detect`, on any host) join the same consumer group.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess

from server import cpus
from server.config import Settings

_LOGGER = logging.getLogger("hsi.runner")

#: How long a stopping child may take to finish the files it holds before it is killed (within the 10 s
#: a supervised loop is given to stop: server/pipeline/supervision.py).
STOP_SECONDS = 8.0
#: Restart delays after a crash: the first, and the most while the child keeps dying soon after start.
FIRST_RESTART_SECONDS = 1.0
MAX_RESTART_SECONDS = 60.0
#: A child that ran this long before it died is restarted after the first delay again.
HEALTHY_RUN_SECONDS = 60.0


def runs_in_child(settings: Settings, roles: Sequence[str]) -> bool:
    """Whether the detect role of a process that runs `roles` gets a process of its own
    (`HSI_DETECT_PROCESS`): only beside other roles (`worker detect` is a process of its own already)."""
    if set(roles) <= {"detect"}:
        return False
    if settings.detect_process == "auto":
        return cpus.usable() > 1
    return settings.detect_process == "child"


#: The child's entry point: `(settings, the parent's pid)`, a module-level function (spawn pickles it by
#: name); `server.runner.serve_detect_process` in a server.
ChildMain = Callable[[Settings, int], None]


class DetectProcess:
    """Runs the detect role in a child process until `stop`; `settings` hold the stores' URLs."""

    def __init__(self, settings: Settings, child_main: ChildMain) -> None:
        self.settings = settings
        self.child_main = child_main
        self._context = multiprocessing.get_context("spawn")

    async def run(self, stop: asyncio.Event) -> None:
        delay = FIRST_RESTART_SECONDS
        while not stop.is_set():
            process = self._context.Process(
                target=self.child_main, args=(self.settings, os.getpid()), name="hsi-detect"
            )
            await asyncio.to_thread(process.start)  # spawning imports the server in the child: not on the loop
            started = time.monotonic()
            _LOGGER.info("detect role started in process %s", process.pid, extra={"component": "detector"})
            exited = _exit_of(process)
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not exited.done():
                    await self._terminate(process, exited)
                    return
            except asyncio.CancelledError:  # the server could not wait any longer
                if not exited.done():
                    process.kill()
                raise
            finally:
                stopping.cancel()
            if time.monotonic() - started >= HEALTHY_RUN_SECONDS:
                delay = FIRST_RESTART_SECONDS
            # Exit code 0: something other than this server told it to stop (a SIGTERM of its own).
            _LOGGER.log(
                logging.INFO if process.exitcode == 0 else logging.ERROR,
                "the detect process %s exited with code %s; starting it again in %.0f s",
                process.pid,
                process.exitcode,
                delay,
                extra={"component": "detector", "data": {"exit_code": process.exitcode}},
            )
            process.close()
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, MAX_RESTART_SECONDS)

    async def _terminate(self, process: BaseProcess, exited: asyncio.Future[None]) -> None:
        """SIGTERM (the child finishes what it holds, as a server does), then SIGKILL after STOP_SECONDS."""
        process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), STOP_SECONDS)
        except TimeoutError:
            _LOGGER.warning(
                "the detect process %s did not stop within %.0f s; killing it",
                process.pid,
                STOP_SECONDS,
                extra={"component": "detector"},
            )
            process.kill()
            await exited
        process.close()


def _exit_of(process: BaseProcess) -> asyncio.Future[None]:
    """A future done when `process` has exited (its sentinel becomes readable), reaped by then."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    sentinel = process.sentinel

    def reap() -> None:
        loop.remove_reader(sentinel)
        process.join()
        if not done.done():
            done.set_result(None)

    loop.add_reader(sentinel, reap)
    return done
