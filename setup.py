"""Builds the optional C accelerators in service/native/ (everything else is in pyproject.toml).

Each `service/native/<name>.c` becomes the extension module `service.native.<name>`. They are
optional: where no C compiler is available the install still succeeds and the service runs the
pure-Python implementations, which stay the reference the tests hold the C code to.
"""

from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("service") / "native"

setup(
    ext_modules=[
        Extension(
            f"service.native.{source.stem}",
            [str(source)],
            optional=True,
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit"],
        )
        for source in sorted(NATIVE.glob("*.c"))
    ]
)
