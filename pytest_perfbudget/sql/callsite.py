"""Where a statement came from: the innermost frame of the user's own code.

Frames are walked by hand (``sys._getframe`` and ``f_back``): building a
traceback summary would cost far more than the statement itself. Each code
file is classified once (user code with its display path, SQLAlchemy, or
anything else) and the verdict is cached, so a walk costs a dictionary lookup
per frame.

Under asyncio, SQLAlchemy's ``AsyncEngine`` runs the synchronous engine in a
child greenlet; the coroutine that awaited ``session.execute(...)`` is
suspended in the parent greenlet. When the current stack holds no user frame
the walk goes on from ``greenlet.getcurrent().parent.gr_frame``.

The walk also reports the *entry*: the outermost frame of the run of
SQLAlchemy frames the statement was sent from, that is the call into
SQLAlchemy that it belongs to. Two statements with the same entry frame
belong to one request of the user's code (the batches of one
``selectinload``); each lazy load or each ``session.execute`` in a loop has
an entry of its own, also when it is made from a library (a serializer that
reads relationships) or from excluded code.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import site
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, FrameType

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # pytest_perfbudget itself


Site = tuple[str, str, FrameType | None]
"""Where in the user's code: ``path:line`` relative to rootdir, the function there, and the
entry frame (the call into SQLAlchemy made from that line; its identity marks one request).
A plain tuple because one is built for every statement."""


class _Other:
    """Marks code that is neither the user's nor SQLAlchemy's (stdlib, site-packages, plugin)."""


class _SqlAlchemy:
    """Marks SQLAlchemy's own code."""


OTHER = _Other()
SQLALCHEMY = _SqlAlchemy()
_Verdict = str | _Other | _SqlAlchemy  # user code: its display path
_CACHE_LIMIT = 10_000


def _library_prefixes() -> tuple[str, ...]:
    """Directories of the standard library, installed packages and their scripts, and the venv."""
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
    prefixes = {paths[key] for key in keys if key in paths}
    with contextlib.suppress(AttributeError):  # some embedded or virtualenv builds lack it
        prefixes.update(site.getsitepackages())
    user_site = getattr(site, "USER_SITE", None)
    if user_site:
        prefixes.add(user_site)
    if sys.prefix != sys.base_prefix:
        prefixes.add(sys.prefix)  # a virtual environment holds no user code, even inside rootdir
    return tuple(sorted({os.path.normcase(os.path.abspath(prefix)) + os.sep for prefix in prefixes}))


def _sqlalchemy_prefix() -> str | None:
    module = sys.modules.get("sqlalchemy")
    filename: str | None = getattr(module, "__file__", None)
    if not filename:
        return None
    return os.path.normcase(os.path.dirname(os.path.abspath(filename))) + os.sep


class CallSiteLocator:
    """Finds the user's frame for the statement being executed now."""

    def __init__(self, rootdir: Path, exclude: Sequence[str] = ()) -> None:
        self.rootdir = os.path.normcase(os.path.abspath(rootdir))
        self.exclude = tuple(exclude)
        self._libraries = _library_prefixes()
        self._plugin = os.path.normcase(_PACKAGE_DIR) + os.sep
        self._sqlalchemy = _sqlalchemy_prefix()
        # Keyed on the code's file name: a string hashes once, and the verdict is the file's.
        self._verdicts: dict[str, _Verdict] = {}
        # The call site of a user frame by (id of its code, its last instruction): the same
        # string each time, with its hash cached, and no line table read per statement. The
        # code is kept beside it, so that the id stays its own.
        self._sites: dict[tuple[int, int], tuple[CodeType, str, str]] = {}

    def classify(self, filename: str) -> _Verdict:
        """The cached verdict on a code file: its display path if it is user code, else a marker."""
        verdict = self._verdicts.get(filename)
        if verdict is None:
            verdict = self._classify_file(filename)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[filename] = verdict
        return verdict

    def _classify_file(self, filename: str) -> _Verdict:
        if not filename or filename.startswith("<"):
            return OTHER  # frozen importlib, exec'd strings
        path = os.path.normcase(os.path.abspath(filename))
        if self._sqlalchemy is None:
            self._sqlalchemy = _sqlalchemy_prefix()
        if self._sqlalchemy is not None and path.startswith(self._sqlalchemy):
            return SQLALCHEMY
        if path.startswith(self._plugin) or path.startswith(self._libraries):
            return OTHER
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return OTHER
        shown = self.display_path(path)
        if any(fnmatch.fnmatch(shown, pattern) for pattern in self.exclude):
            return OTHER
        return shown

    def display_path(self, path: str) -> str:
        """``path`` relative to rootdir with ``/`` separators; absolute when outside rootdir."""
        if path.startswith(self.rootdir + os.sep):
            path = path[len(self.rootdir) + 1 :]
        return path.replace(os.sep, "/")

    def locate(self, frame: FrameType | None) -> Site | None:
        """Walk out from ``frame`` (then up the greenlet parents) to the first user frame.

        The entry is the outermost frame of the first run of SQLAlchemy frames met on
        the way: the call into SQLAlchemy that this statement belongs to. Written flat
        and lean: it runs for every frame between a statement and the user's code.
        """
        entry: FrameType | None = None
        sealed = False  # past the first run of SQLAlchemy frames
        glet: object = None
        verdict_of = self._verdicts.get
        sqlalchemy, other = SQLALCHEMY, OTHER
        while True:
            while frame is not None:
                code = frame.f_code
                verdict = verdict_of(code.co_filename)
                if verdict is None:
                    verdict = self.classify(code.co_filename)
                if verdict is sqlalchemy:
                    if not sealed:
                        entry = frame
                elif verdict is not other:
                    key = (id(code), frame.f_lasti)
                    known = self._sites.get(key)
                    if known is not None and known[0] is code:
                        return known[1], known[2], entry
                    site = f"{verdict}:{frame.f_lineno}"
                    function = _function_name(frame)
                    if code.co_name not in _COMPREHENSIONS:  # else the name depends on the caller
                        if len(self._sites) >= _CACHE_LIMIT:
                            self._sites.clear()
                        self._sites[key] = (code, site, function)
                    return site, function, entry
                elif entry is not None:
                    sealed = True
                frame = frame.f_back
            glet = _parent_greenlet(glet)
            if glet is None:
                return None
            frame = getattr(glet, "gr_frame", None)


_COMPREHENSIONS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


def _function_name(frame: FrameType) -> str:
    """The frame's function; a comprehension's is the function around it (as Python 3.12+ says)."""
    while frame.f_code.co_name in _COMPREHENSIONS and frame.f_back is not None:
        frame = frame.f_back
    return frame.f_code.co_name


def _parent_greenlet(glet: object) -> object:
    """The greenlet that started ``glet`` (the current one when ``glet`` is None), if any."""
    module = sys.modules.get("greenlet")
    if module is None:
        return None
    if glet is None:
        glet = module.getcurrent()
    return getattr(glet, "parent", None)
