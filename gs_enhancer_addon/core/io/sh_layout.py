"""Where each SH coefficient lives in the INRIA 3DGS layout: the one f_rest_* name mapping.

INRIA .ply files (and Blender objects made from them) store the DC term as f_dc_0..2 and the
higher bands as f_rest_0..f_rest_{3(K-1)-1}, channel-major: all red coefficients 1..K-1, then
all green, then all blue. Every reader, writer and Blender attribute conversion goes through here.
"""

from __future__ import annotations

import re
from typing import Iterable

REST_COUNTS = {0: 0, 9: 1, 24: 2, 45: 3}  # number of f_rest_* properties -> SH degree
_REST_NAME = re.compile(r"f_rest_(\d+)\Z")


def f_rest_names(degree: int) -> list[list[str]]:
    """names[c][j - 1] is the f_rest_* name of channel c (0 red, 1 green, 2 blue), coefficient j (1..K-1)."""
    rest = (degree + 1) ** 2 - 1
    return [[f"f_rest_{c * rest + j}" for j in range(rest)] for c in range(3)]


def f_rest_file_order(degree: int) -> list[str]:
    """The f_rest_* names in file order (f_rest_0, f_rest_1, ...): channel-major."""
    return [name for channel in f_rest_names(degree) for name in channel]


def rest_degree(names: Iterable[str]) -> int | None:
    """SH degree of a set of property/attribute names, from their f_rest_* members; None unless they
    are exactly f_rest_0..f_rest_{n-1} with n in 0, 9, 24, 45 (degree 0-3)."""
    numbers = sorted(int(m.group(1)) if (m := _REST_NAME.match(n)) else -1 for n in names if n.startswith("f_rest_"))
    if len(numbers) not in REST_COUNTS or numbers != list(range(len(numbers))):
        return None
    return REST_COUNTS[len(numbers)]
