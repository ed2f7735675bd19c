"""The compiled part of jobtools, optional: the JSONL kernel (everything else is in pyproject.toml).

jobtools works without the kernel (the JSONL reader falls back to Python, several times
slower), so a build with no C compiler, or no Cython, still installs: it prints one line
saying the accelerator was not built and how to get it, instead of failing the install.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

KERNEL = "jobtools/io/_kernel.pyx"
HOW = (
    "install a C compiler and Python's headers (Debian/Ubuntu: apt-get install gcc python3-dev; "
    "macOS: xcode-select --install; Windows: Visual Studio Build Tools), then "
    "pip install --force-reinstall --no-deps --no-binary jobtools jobtools"
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _not_built(why: str) -> None:
    # One line, on stderr: pip shows it with -v, `python -m build` always; at run time
    # `jobtools --version` says whether the kernel is there.
    line = f"jobtools: the JSONL accelerator was not built ({why}); to get it, {HOW}"
    print(line, file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that tunes flags per compiler and turns a failed build into one line."""

    def run(self) -> None:
        try:
            super().run()
        except PlatformError as exc:  # no compiler for this platform at all
            _not_built(_first_line(exc))

    def build_extension(self, ext: Extension) -> None:
        if self.compiler.compiler_type == "msvc":
            ext.extra_compile_args = ["/O2"]
        else:
            # -g0: no debug information (Python's own CFLAGS ask for -g); -s strips the
            # symbol table on Linux (macOS' ld has no -s; -x drops local symbols there).
            ext.extra_compile_args = ["-O3", "-g0"]
            if sys.platform.startswith("linux"):
                ext.extra_link_args = ["-s"]
            elif sys.platform == "darwin":
                ext.extra_link_args = ["-Wl,-x"]
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError, OSError) as exc:
            # No cc, no Python.h, a compiler error: the compiler's output is above this line.
            _not_built(_first_line(exc))


def _extensions() -> list[Extension]:
    if not Path(KERNEL).is_file():
        # A wheel built from an sdist that lacks the kernel's source: nothing to compile.
        _not_built(f"{KERNEL} is missing")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _not_built("Cython is not installed")
        return []
    return list(
        cythonize(
            [Extension("jobtools.io._kernel", [KERNEL])],
            compiler_directives={"language_level": "3"},
        )
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
