"""Read one file in a bounded worker process: a hard wall-time stop and a memory cap per file.

The readers check their budget as they go (``limits.py``), but some work cannot be interrupted
from Python: a C parser inside lxml or pdfium, a Rust tokenizer that aborts the whole process when
an allocation fails. A thread cannot be stopped either. So the file is read in a forked child:
the parent waits ``timeout_s`` (plus a little, so the cooperative timeout can answer first) and
kills it after that; the child lowers its own address-space limit to what it has plus
``max_memory_bytes``, so a memory bomb fails there (MemoryError or an abort) and not in the run.

Fork, not spawn: the child starts with the parent's imports (docling, openpyxl, the tokenizer) for
a few milliseconds instead of re-importing them for seconds (measured in bench/bench_extraction.py).
Where fork does not exist (Windows) the function runs in-process with the cooperative checks only.

Cost: a fork costs time in proportion to the forking process's memory (~0.1 ms per MB here:
45-100 ms a file from a prepare lane of 0.4-1 GB, against 0.6 ms to parse a small Markdown file
in-process). So a file that needs nothing the parent prepared (``clean``: no tar listing, no
docling warm-up) is forked from Python's forkserver instead, a small process preloaded with the
readers' parsers (``clean_context``): 56 -> 23-27 ms a file from a 577 MB parent, whose own CPU per
file went 23 -> 1.5 ms. Long-lived workers would avoid the fork altogether, at the price of
handing them what the parent prepares per file (tar listings, docling's warm-up).

LanceDB warns at every fork of a process that has loaded it (the prepare lane has) that its fork
support is experimental: the forked child's copy of LanceDB's async runtime is reset, and state
another thread had mid-operation could deadlock a child that used LanceDB. A reader never touches
LanceDB, and its hard wall-time stop would end such a hang as that file's timeout, so the warning
is silenced here (it put two lines on the console per file read: 2,000 at 1,000 documents).
Workers from the forkserver share nothing with LanceDB at all.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable
from multiprocessing import forkserver
from typing import Any, TypeVar

from mbdg_assets.extract.extraction import _READER_MODULES
from mbdg_assets.extract.formats.base import ExtractionError
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits

T = TypeVar("T")
GRACE_S = 2.0  # the cooperative timeout (raised inside the reader) gets this long to answer first
_MEMORY_SIGNALS = {signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS}
warnings.filterwarnings("ignore", message="lancedb fork support is experimental", category=RuntimeWarning)
# A forkserver's worker runs the preloaded main module again (_main_module); runpy warns that it is
# already imported, which it is on purpose: once per file on the console otherwise.
warnings.filterwarnings("ignore", message=r".* found in sys\.modules after import of package", category=RuntimeWarning)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# What a worker forked from the forkserver starts with, besides every reader's parsers (the
# `_READER_MODULES` of extraction.py, read there so the list is kept once); docling is left out:
# its ~12 s warm-up is paid once, in the process that forks docling's readers.
CLEAN_PRELOAD = ("mbdg_assets.extract.worker", "mbdg_assets.extract.members", "mbdg_assets.extract.extraction")


@functools.lru_cache(maxsize=1)
def clean_context() -> multiprocessing.context.BaseContext:
    """Python's forkserver, preloaded with CLEAN_PRELOAD and started now (its imports take about a
    second, in its own process; a forkserver that died is started again at the next request).
    Forking a worker costs time in proportion to the memory of the process forked: from the prepare
    lane (400 MB with server embeddings, 1 GB with the local model) 45-100 ms a file, from the
    forkserver (~90 MB) a fraction of that. Its workers share nothing with LanceDB's or Dagster's
    threads."""
    parsers = list(dict.fromkeys(module for modules in _READER_MODULES.values() for module in modules))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_main_module() + list(CLEAN_PRELOAD) + parsers)
    forkserver.ensure_running()
    return context


def _main_module() -> list[str]:
    """A forkserver's worker runs this process's main module again before its task, as every
    spawned process does (`multiprocessing`'s rule); preloaded, its imports are not repeated per
    file. `mbdg` (a script), `python -m mbdg_assets.cli.main` and the prepare lane have one;
    pytest's `__main__` is not run again."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name:
        return [] if name == "__main__" or name.endswith(".__main__") else [name]
    return ["__main__"] if getattr(main, "__file__", None) else []


def _address_space() -> int:
    """Bytes of virtual memory this process maps now (Linux; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _cap_memory(extra_bytes: int) -> None:
    """Let this process map at most ``extra_bytes`` more than it maps now."""
    try:
        import resource
    except ImportError:  # not on this platform: the wall-time stop still holds
        return
    current = _address_space()
    if current:
        limit = current + extra_bytes
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _child(sender, function: Callable[..., Any], args: tuple, memory_bytes: int, niceness: int | None = None) -> None:
    """Run the function and send back ('ok', result) or ('error', code, message); never raises.
    The inherited objects are frozen first: a garbage collection in the child would otherwise
    walk (and so copy, page by page) the whole heap it shares with the parent. `niceness`: the
    asking process's, taken by a worker forked elsewhere (the forkserver runs at the priority it
    started with; the prepare lane lowers its own after its first slice, and its readers with it)."""
    gc.freeze()
    _take_niceness(niceness)
    try:
        _cap_memory(memory_bytes)
        answer: tuple = ("ok", function(*args))
    except ExtractionError as error:
        answer = ("error", error.code, error.message)
    except MemoryError:
        answer = ("error", "too_large", f"needed more than its memory budget of {memory_bytes:,} bytes (max_memory_bytes)")
    except BaseException as error:  # a parser bug is reported like in-process, never lost
        answer = ("error", "internal_error", f"{type(error).__name__}: {error}")
    try:
        sender.send(answer)
    except MemoryError:
        sender.send(("error", "too_large", "the result is larger than the memory budget (max_memory_bytes)"))
    finally:
        sender.close()


def _niceness() -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, AttributeError):  # not POSIX
        return None


def _take_niceness(niceness: int | None) -> None:
    """Lower this process's priority to `niceness` (never raise it: that needs privileges)."""
    own = _niceness()
    if niceness is not None and own is not None and niceness > own:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)


def _died(name: str, exitcode: int | None, memory_bytes: int) -> ExtractionError:
    """The child ended without an answer: a signal from an abort (a failed allocation in native
    code) or a kill is a memory bomb to us; anything else a reader bug."""
    if exitcode is not None and exitcode < 0 and -exitcode in _MEMORY_SIGNALS:
        what = signal.Signals(-exitcode).name
        return ExtractionError("too_large", f"{name}: the reader stopped with {what}, most likely out of its "
                               f"memory budget of {memory_bytes:,} bytes (max_memory_bytes)")
    return ExtractionError("internal_error", f"{name}: the reader exited without an answer (exit code {exitcode})")


def run_bounded(function: Callable[..., T], args: tuple, name: str,
                limits: ExtractionLimits = DEFAULT_LIMITS, clean: bool = False) -> T:
    """``function(*args)`` in a forked worker bounded by ``limits.timeout_s`` and
    ``limits.max_memory_bytes``; its ExtractionError comes back as itself, anything else as
    ExtractionError('internal_error'). ``name`` is the file name for messages. ``clean``: the
    function needs nothing this process prepared (CLEAN_PRELOAD has its modules), so the worker
    is forked from the small forkserver process instead of from this one."""
    if not can_fork():
        return function(*args)
    context = clean_context() if clean else multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args, limits.max_memory_bytes, _niceness()),
                              daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(limits.timeout_s + GRACE_S):
            raise ExtractionError("timeout", f"{name}: reading took longer than the limit of "
                                  f"{limits.timeout_s:g} s (timeout_s); stopped")
        try:
            answer = receiver.recv()
        except EOFError:
            process.join(5)
            raise _died(name, process.exitcode, limits.max_memory_bytes) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    if answer[0] == "ok":
        return answer[1]
    code, message = answer[1], answer[2]
    raise ExtractionError(code, message if message.startswith(name) else f"{name}: {message}")
