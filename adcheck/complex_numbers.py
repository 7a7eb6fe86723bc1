"""Complex inputs and outputs: a complex function checked as the real function of its parts.

**The ground truth.** A function of complex arrays is checked as the map of their real and
imaginary parts: each complex entry is two real numbers, side by side, in the flat vector of
inputs (``z[k]`` is columns ``2k`` and ``2k+1``: ``Re z[k]``, ``Im z[k]``, numpy's own memory
layout of a complex array) and in the flat vector of outputs (rows ``Re f[k]``, ``Im f[k]``).
Finite differences then difference the real and the imaginary parts separately, and every
Jacobian, product, second derivative, tolerance and verdict is the ordinary real one.

**Realified inside each framework.** Each backend builds ``z = x + i y`` from its real inputs
and splits a complex output into ``(Re f, Im f)`` with its own framework's operations
(``assemble`` and ``split`` below, a few lines per framework), so the function it differentiates
is real to real and the framework's own complex rules, a user's ``custom_jvp``/``custom_vjp``,
``defvjp`` or ``torch.autograd.Function`` on complex numbers included, run exactly as they do
in the user's program. A real-to-real composition is where the frameworks' complex conventions
meet the one real Jacobian:

- JAX forward mode: ``jvp`` is R-linear in the tangent (``df = f_x dx + f_y dy`` for a complex
  tangent ``dx + i dy``); its real and imaginary parts are the realified Jacobian's columns.
- JAX and autograd reverse mode: the cotangent of a complex value is ``u - i v`` paired with
  ``(Re, Im)`` (JAX's cookbook: ``grad`` of a C->R function is ``du/dx - i du/dy``; autograd's
  tutorial: ``grad(u, 0) - i grad(u, 1)``); ``real``/``imag``/``complex`` carry it in and out, so
  a real cotangent on ``(Re f, Im f)`` comes back as the real gradient with respect to ``(x, y)``.
- PyTorch: ``.grad`` of a complex leaf is the conjugate Wirtinger derivative ``dL/dz*`` (times
  2 for a real loss: torch's autograd notes); ``torch.real``/``torch.imag``/``torch.complex``
  translate that convention at the boundary in the same way, so the realified function's
  gradient is the real one again.

A rule written for the wrong convention (a missing or an extra conjugate) is right on every
real input and wrong here: the realified Jacobian differs from finite differences, and blame
checks the rule alone on its complex operands, realified the same way (each framework's
``explain/blame`` module builds its local problem on the operands' real and imaginary parts).

**What the report shows.** The real Jacobian, entry by entry, named ``d Re f[0] / d Im z[1]``;
and for each pair of entries where one is complex, the derivative as users write it
(``complex_view``): ``f'(z)`` where the function is holomorphic there (the Cauchy-Riemann
equations hold on the 2x2 real block of the reference, within its error bar and the comparison's
tolerance), else the Wirtinger
pair ``(df/dz, df/dz*)``; ``df/dx`` (one complex number) for a real input of a complex output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The real dtype of each complex one (the flat vector's dtype for complex inputs).
REAL_OF = {"complex64": np.dtype(np.float32), "complex128": np.dtype(np.float64)}
# JSON: a complex number is {"$complex": [re, im]}; it may stand wherever a number may.
JSON_TAG = "$complex"


def is_complex(value) -> bool:
    """Is this array (or dtype) complex?"""
    dtype = value if isinstance(value, np.dtype) else getattr(value, "dtype", None)
    return dtype is not None and np.dtype(dtype).kind == "c"


def real_dtype(dtype) -> np.dtype:
    """The dtype an array of this dtype has in the flat real vector (its own unless complex)."""
    dtype = np.dtype(dtype)
    return REAL_OF.get(dtype.name, np.dtype(np.float64)) if dtype.kind == "c" else dtype


def flat_width(value: np.ndarray) -> int:
    """How many real numbers an array takes in the flat vector: two per complex entry."""
    return int(value.size) * (2 if is_complex(value) else 1)


def real_view(array: np.ndarray) -> np.ndarray:
    """A complex array's parts, flat: ``[Re z[0], Im z[0], Re z[1], ...]`` (numpy's layout)."""
    array = np.asarray(array)
    return np.stack([array.real, array.imag], axis=-1).ravel()


def complex_from_view(flat: np.ndarray, shape, dtype) -> np.ndarray:
    """The inverse of ``real_view``, in numpy: an array of ``shape`` and complex ``dtype``."""
    pairs = np.asarray(flat, dtype=real_dtype(dtype)).reshape(*shape, 2)
    return (pairs[..., 0] + 1j * pairs[..., 1]).astype(dtype)


# --- the realification, one entry per framework ----------------------------------------------------
#
# assemble(real pieces, shape, xp) -> complex array, from the flat vector's 2*size reals;
# split(complex array, xp) -> flat real array [Re, Im] interleaved. Written in each framework's
# own operations (``xp``: numpy, autograd.numpy, jax.numpy or torch) so that its differentiation
# sees them.


def _assemble_numpy_like(xp):
    def assemble(chunk, shape):
        pairs = xp.reshape(chunk, (*shape, 2))
        return pairs[..., 0] + 1j * pairs[..., 1]

    return assemble


def _assemble_jax(chunk, shape):
    import jax
    import jax.numpy as jnp

    pairs = jnp.reshape(chunk, (*shape, 2))
    return jax.lax.complex(pairs[..., 0], pairs[..., 1])


def _assemble_torch(chunk, shape):
    import torch

    pairs = torch.reshape(chunk, (*shape, 2))
    return torch.complex(pairs[..., 0], pairs[..., 1])


def _split_numpy_like(xp):
    return lambda part: xp.ravel(xp.stack([xp.real(part), xp.imag(part)], axis=-1))


def _split_torch(part):
    import torch

    return torch.stack([torch.real(part), torch.imag(part)], dim=-1).reshape(-1)


def assemble(chunk, shape, xp=np):
    """Complex array of ``shape`` from ``chunk`` (2*size reals, interleaved), with ``xp``'s operations."""
    name = getattr(xp, "__name__", "numpy")
    if name == "torch":
        return _assemble_torch(chunk, tuple(shape))
    if name.startswith("jax"):
        return _assemble_jax(chunk, tuple(shape))
    return _assemble_numpy_like(xp)(chunk, tuple(shape))


def split(part, xp=np):
    """A complex output ``part`` as its flat real parts, interleaved, with ``xp``'s operations."""
    name = getattr(xp, "__name__", "numpy")
    if name == "torch":
        return _split_torch(part)
    return _split_numpy_like(xp)(part)


# --- names of the real entries -------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One real row or column: the entry it belongs to, and which part of it (None: a real entry)."""

    entry: int  # the complex (or real) entry's index among the complex view's entries
    part: str | None  # "Re", "Im" or None


def parts(widths: list[tuple[int, bool]]) -> list[Part]:
    """The real rows (or columns) of arrays given as (size, complex): one per real entry, two per
    complex one, in the flat vector's order."""
    found, entry = [], 0
    for size, complex_ in widths:
        for _ in range(size):
            if complex_:
                found += [Part(entry, "Re"), Part(entry, "Im")]
            else:
                found.append(Part(entry, None))
            entry += 1
    return found


def part_name(name: str, part: str | None) -> str:
    """``Re z[1]``: a real row or column of a complex entry; a real entry's name as it is."""
    return f"{part} {name}" if part else name


# --- the complex view of a report ----------------------------------------------------------------

# Cauchy-Riemann on the reference's 2x2 block: |u_x - v_y| and |u_y + v_x| within
# ERROR_ESTIMATE_FACTOR times their FD error bars plus the comparison's rtol times the block's
# size plus its atol_scale times the Jacobian's scale: the same terms, from the same table
# (``compare.TOLERANCES``), as the comparison of an AD value with the reference.


@dataclass(frozen=True)
class ComplexDerivative:
    """One output entry by one input entry, at least one of them complex, as users write it.

    ``values``: per backend (the reference "fd" first), (d/dz, d/dz*) for a complex input or
    (d/dx, None) for a real input of a complex output.
    """

    output: str  # "f[0]"
    input: str  # "z[1]"
    row: int  # the first real row of the output entry in the real Jacobian
    col: int  # the first real column of the input entry
    complex_input: bool
    holomorphic: bool | None  # Cauchy-Riemann held on the reference's block (None: a real input)
    zero: bool  # the reference's block is zero within its tolerance (the entry does not depend on the input)
    values: tuple[tuple[str, complex, complex | None], ...]

    @property
    def name(self) -> str:
        return f"d {self.output} / d {self.input}"


def has_complex(report) -> bool:
    """Does the run have a complex input or output?"""
    return any(is_complex(np.dtype(a.dtype)) for a in report.arguments if a.differentiated) or \
        any(getattr(leaf, "complex", False) for leaf in report.outputs)


def _row_widths(report) -> list[tuple[int, bool]]:
    return [(int(np.prod(leaf.shape)) if leaf.shape else 1, bool(getattr(leaf, "complex", False)))
            for leaf in report.outputs]


def _column_widths(report) -> list[tuple[int, bool]]:
    return [(int(np.prod(a.shape)) if a.shape else 1, is_complex(np.dtype(a.dtype)))
            for a in report.arguments if a.differentiated]


def _block(jacobian: np.ndarray, rows: list[int], cols: list[int]) -> tuple[complex, complex]:
    """(f_x, f_y): the output entry's derivatives along the input's real and imaginary axes, each a
    complex number u + i v (v = 0 for a real output; f_y = 0 for a real input)."""
    def derivative(col):
        u = jacobian[rows[0], col]
        v = jacobian[rows[1], col] if len(rows) == 2 else 0.0
        return complex(u, v)

    return derivative(cols[0]), (derivative(cols[1]) if len(cols) == 2 else 0j)


def wirtinger(f_x: complex, f_y: complex) -> tuple[complex, complex]:
    """(df/dz, df/dz*) = (f_x - i f_y) / 2, (f_x + i f_y) / 2."""
    return 0.5 * (f_x - 1j * f_y), 0.5 * (f_x + 1j * f_y)


def _bound(block: np.ndarray, precision: str, scale: float) -> float:
    from .verdict.tolerances import TOLERANCES

    tolerance = TOLERANCES.get(precision, TOLERANCES["float64"])
    return tolerance.rtol * float(np.max(np.abs(block))) + tolerance.atol_scale * scale


def is_zero(jacobian, error, rows, cols, precision: str, scale: float) -> bool:
    """Is the reference's block zero within its error bar and the comparison's absolute tolerance?"""
    from .verdict.tolerances import ERROR_ESTIMATE_FACTOR, TOLERANCES

    block = jacobian[np.ix_(rows, cols)]
    bars = error[np.ix_(rows, cols)] if error is not None else np.zeros_like(block)
    atol = TOLERANCES.get(precision, TOLERANCES["float64"]).atol_scale * scale
    return bool(np.all(np.abs(block) <= ERROR_ESTIMATE_FACTOR * bars + atol))


def cauchy_riemann(jacobian, error, rows, cols, precision: str, scale: float) -> bool:
    """Do the Cauchy-Riemann equations hold on this 2x2 block, within the reference's error bar?"""
    from .verdict.tolerances import ERROR_ESTIMATE_FACTOR

    block = jacobian[np.ix_(rows, cols)]
    bars = error[np.ix_(rows, cols)] if error is not None else np.zeros((2, 2))
    if len(rows) == 1:  # a real output: v = 0, so u_x = 0 and u_y = 0
        block = np.vstack([block, np.zeros((1, 2))])
        bars = np.vstack([bars, np.zeros((1, 2))])
    (u_x, u_y), (v_x, v_y) = block
    (e_ux, e_uy), (e_vx, e_vy) = bars
    bound = _bound(block, precision, scale)
    return bool(abs(u_x - v_y) <= ERROR_ESTIMATE_FACTOR * (e_ux + e_vy) + bound
                and abs(u_y + v_x) <= ERROR_ESTIMATE_FACTOR * (e_uy + e_vx) + bound)


@dataclass(frozen=True)
class _Known:
    """The real Jacobian entries a run's report holds: the reference's (with its error bars) and
    each backend's, with where each is known (all of it in full mode; fast mode: ``fast_known``)."""

    jacobian: np.ndarray
    error: np.ndarray | None
    backends: tuple[tuple[str, np.ndarray, np.ndarray], ...]  # (name, Jacobian, known mask)
    reference_known: np.ndarray


def _known(report) -> _Known | None:
    reference = report.run("fd")
    if reference is None:
        return None
    if reference.jacobian is not None:
        shape = reference.jacobian.shape
        return _Known(reference.jacobian, reference.error,
                      tuple((r.name, r.jacobian, np.ones(shape, dtype=bool)) for r in report.runs
                            if r.jacobian is not None and r.jacobian.shape == shape), np.ones(shape, dtype=bool))
    return fast_known(report)


def fast_known(report) -> _Known | None:
    """Fast mode's whole Jacobian entries: FD's and forward backends' along the sampled input
    columns (a complex input entry's two columns are sampled together: ``fast.probe_vectors``),
    reverse backends' along the sampled output rows (the whole gradient for a scalar output)."""
    from .fast import N_RANDOM, probe_vectors

    reference = report.run("fd")
    if reference.products is None or reference.products.jv is None or reference.value is None:
        return None
    cols = parts(_column_widths(report))
    real_parts = tuple(i for i, part in enumerate(cols) if part.part == "Re")
    n_outputs, n_inputs = reference.value.size, len(cols)
    vectors = probe_vectors(n_inputs, n_outputs, complex_columns=real_parts)
    shape, sampled = (n_outputs, n_inputs), vectors.sampled_columns

    def along_columns(jv):
        if jv is None or jv.shape != (n_outputs, N_RANDOM + sampled.size):
            return None
        whole, known = np.full(shape, np.nan), np.zeros(shape, dtype=bool)
        whole[:, sampled], known[:, sampled] = jv[:, N_RANDOM:], True
        return whole, known

    def along_rows(ujt):
        rows = np.zeros(1, dtype=int) if n_outputs == 1 else vectors.sampled_rows
        if ujt is None or ujt.shape[1] != n_inputs or ujt.shape[0] != (1 if n_outputs == 1 else N_RANDOM + rows.size):
            return None
        whole, known = np.full(shape, np.nan), np.zeros(shape, dtype=bool)
        whole[rows], known[rows] = ujt[-rows.size:], True
        return whole, known

    backends = []
    for run in report.runs:
        if run.products is None:
            continue
        found = along_columns(run.products.jv) if run.products.jv is not None else along_rows(run.products.ujt)
        if found is not None:
            backends.append((run.name, *found))
    jacobian, known = along_columns(reference.products.jv) or (None, None)
    if jacobian is None:
        return None
    error, _ = along_columns(reference.products.jv_error) or (None, None)
    return _Known(jacobian, error, tuple(backends), known)


def complex_view(report, limit: int | None = None, only: tuple[int, int] | None = None
                 ) -> tuple[ComplexDerivative, ...]:
    """Each (output entry, input entry) pair of a run where one is complex (the first ``limit``;
    ``only``: the pair whose first real row and column are these), with every backend's
    derivative in complex form and the reference's Cauchy-Riemann judgement. In fast mode, the
    pairs whose entries the run computed whole (``fast_known``), each backend where it did."""
    known = _known(report) if has_complex(report) else None
    if known is None:
        return ()
    rows, cols = parts(_row_widths(report)), parts(_column_widths(report))
    if (len(rows), len(cols)) != known.jacobian.shape:
        return ()  # a hand-made or truncated report: nothing to pair
    precision = report.run("fd").reference.precision.name if report.run("fd").reference is not None else "float64"
    finite = known.jacobian[np.isfinite(known.jacobian)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    found = []
    for out_rows in _groups(rows):
        for in_cols in _groups(cols):
            block = np.ix_(out_rows, in_cols)
            if (len(out_rows) == 1 and len(in_cols) == 1) or not known.reference_known[block].all():
                continue  # real by real: the real Jacobian says it all; or not computed whole (fast mode)
            if limit is not None and len(found) >= limit:
                return tuple(found)
            if only is not None and (out_rows[0], in_cols[0]) != only:
                continue
            found.append(_derivative(report, known, out_rows, in_cols, precision, scale))
    return tuple(found)


def _derivative(report, known: _Known, out_rows, in_cols, precision: str, scale: float) -> ComplexDerivative:
    complex_input = len(in_cols) == 2
    holomorphic = (cauchy_riemann(known.jacobian, known.error, out_rows, in_cols, precision, scale)
                   if complex_input else None)
    values = []
    for name, jacobian, where in known.backends:
        if not where[np.ix_(out_rows, in_cols)].all():
            continue
        f_x, f_y = _block(jacobian, out_rows, in_cols)
        values.append((name, *wirtinger(f_x, f_y)) if complex_input else (name, f_x, None))
    return ComplexDerivative(
        output=report.output_name(out_rows[0]).removeprefix("Re "),
        input=report.input_name(in_cols[0]).removeprefix("Re "),
        row=out_rows[0], col=in_cols[0], complex_input=complex_input, holomorphic=holomorphic,
        zero=is_zero(known.jacobian, known.error, out_rows, in_cols, precision, scale), values=tuple(values))


def _groups(found: list[Part]) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for index, part in enumerate(found):
        groups.setdefault(part.entry, []).append(index)
    return list(groups.values())


def kind(derivative: ComplexDerivative) -> str:
    """"holomorphic", "wirtinger" or "real input"."""
    if not derivative.complex_input:
        return "real input"
    return "holomorphic" if derivative.holomorphic else "wirtinger"


def number_json(value: complex | None, number) -> dict | None:
    """``{"re": ..., "im": ...}`` (``number`` writes each part as the JSON report writes numbers)."""
    return None if value is None else {"re": number(value.real), "im": number(value.imag)}


# The JSON report's Jacobians stop at 10,000 entries (report.json.MAX_JSON_JACOBIAN_ENTRIES); so
# do its complex entries.
MAX_JSON_ENTRIES = 10_000


def json_section(report, number) -> list[dict]:
    """The JSON report's ``complex`` list: one object per complex entry pair (the first 10,000)."""
    section = []
    for d in complex_view(report, MAX_JSON_ENTRIES):
        entry = {"name": d.name, "out": d.output, "in": d.input, "entry": [d.row, d.col], "kind": kind(d),
                 "cauchy_riemann": d.holomorphic, "zero": d.zero}
        derivatives = {}
        for backend, first, second in d.values:
            if not d.complex_input:
                derivatives[backend] = {"d/dx": number_json(first, number)}
            elif d.holomorphic:
                derivatives[backend] = {"d/dz": number_json(first, number)}
            else:
                derivatives[backend] = {"d/dz": number_json(first, number), "d/dconj(z)": number_json(second, number)}
        entry["derivatives"] = derivatives
        section.append(entry)
    return section


def complex_text(value: complex) -> str:
    """``1.5-2j`` (4 significant digits each part), as Python writes a complex number."""
    real, imag = float(value.real), float(value.imag)
    sign = "-" if imag < 0 or (imag == 0 and np.signbit(imag)) else "+"
    return f"{real:.4g}{sign}{abs(imag):.4g}j"


MAX_TABLE_ENTRIES = 6


def table_lines(report) -> list[str]:
    """The table report's lines on complex entries: how each reads, per backend (the first few)."""
    everything = complex_view(report, MAX_JSON_ENTRIES)
    view = [d for d in everything if not d.zero]
    if not everything:
        return []
    where = " where fast mode computed them whole" if report.run("fd").jacobian is None else ""
    lines = [f"Complex derivatives{where} (the reference's 2x2 block decides holomorphic by Cauchy-Riemann):"]
    for d in view[:MAX_TABLE_ENTRIES]:
        if not d.complex_input:
            lines.append(f"  {d.name}: real input, d/dx")
        elif d.holomorphic:
            lines.append(f"  {d.name}: holomorphic (Cauchy-Riemann holds), f'(z)")
        else:
            lines.append(f"  {d.name}: not holomorphic (Cauchy-Riemann fails), Wirtinger pair (d/dz, d/dconj(z))")
        for backend, first, second in d.values:
            shown = complex_text(first) if second is None or d.holomorphic else \
                f"({complex_text(first)}, {complex_text(second)})"
            lines.append(f"    {backend:<10} {shown}")
    if len(view) > MAX_TABLE_ENTRIES:
        lines.append(f"  ... and {len(view) - MAX_TABLE_ENTRIES} more (--format json lists them)")
    if len(everything) > len(view):
        zeros = len(everything) - len(view)
        lines.append(f"  {zeros} more {'is' if zeros == 1 else 'are'} zero (the output does not depend on that input)")
    return lines


# --- JSON: {"$complex": [re, im]} ---------------------------------------------------------------


class MalformedComplex(ValueError):
    """A ``{"$complex": ...}`` object that is not two finite numbers (the message says what it is)."""


def is_json_complex(item) -> bool:
    """Is this parsed JSON a ``{"$complex": ...}`` leaf?"""
    return isinstance(item, dict) and len(item) == 1 and JSON_TAG in item


def decode_json(data):
    """Parsed JSON with every ``{"$complex": [re, im]}`` leaf a Python complex; other values as
    they are. Iterative over lists, so hostile nesting cannot exhaust the stack (the caller bounds
    the depth)."""
    if is_json_complex(data):
        return _json_leaf(data[JSON_TAG])
    if not isinstance(data, list):
        return data
    root: list = list(data)
    stack = [root]
    while stack:
        items = stack.pop()
        for i, item in enumerate(items):
            if is_json_complex(item):
                items[i] = _json_leaf(item[JSON_TAG])
            elif isinstance(item, list):
                items[i] = list(item)
                stack.append(items[i])
    return root


def _json_leaf(pair) -> complex:
    if (not isinstance(pair, list) or len(pair) != 2
            or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in pair)):
        shown = str(pair).replace("\n", " ")[:30]
        raise MalformedComplex(f'{{"{JSON_TAG}": ...}} takes [re, im], two numbers, got {shown}')
    value = complex(float(pair[0]), float(pair[1]))
    if not (np.isfinite(value.real) and np.isfinite(value.imag)):
        raise MalformedComplex(f'{{"{JSON_TAG}": ...}} takes finite numbers')
    return value


def encode_json(array: np.ndarray):
    """A complex array as nested lists of ``{"$complex": [re, im]}``, each part the shortest
    decimal that reads back to the same value (``decode_json`` and numpy give the array back)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return {JSON_TAG: [_shortest(array.real[()]), _shortest(array.imag[()])]}
    return [encode_json(row) for row in array]


def _shortest(value) -> float:
    return float(str(value)) if isinstance(value, np.floating) and value.dtype != np.float64 else float(value)


# --- one entry, for the CI formats -----------------------------------------------------------------


def containing(report, row: int, col: int) -> ComplexDerivative | None:
    """The complex entry pair a real Jacobian entry (``row``, ``col``) belongs to; None for a real one."""
    if not has_complex(report):
        return None
    rows, cols = parts(_row_widths(report)), parts(_column_widths(report))
    if row >= len(rows) or col >= len(cols) or (rows[row].part is None and cols[col].part is None):
        return None
    first_row = next(i for i, p in enumerate(rows) if p.entry == rows[row].entry)
    first_col = next(i for i, p in enumerate(cols) if p.entry == cols[col].entry)
    return next((d for d in complex_view(report, None, (first_row, first_col))), None)


def entry_dict(report, backend: str, row: int, col: int, number) -> dict | None:
    """The complex form of entry (``row``, ``col``) for ``backend`` and the reference:
    ``{"name": "d f[0] / d z[1]", "kind": "wirtinger", "value": {"d/dz": {"re": ..., "im": ...},
    ...}, "reference": {...}}``; None where the entry is real."""
    found = containing(report, row, col)
    if found is None:
        return None
    values = {name: (first, second) for name, first, second in found.values}
    if backend not in values or "fd" not in values:
        return None

    def spelled(first, second):
        if not found.complex_input:
            return {"d/dx": number_json(first, number)}
        if found.holomorphic:
            return {"d/dz": number_json(first, number)}
        return {"d/dz": number_json(first, number), "d/dconj(z)": number_json(second, number)}

    return {"name": found.name, "kind": kind(found), "value": spelled(*values[backend]),
            "reference": spelled(*values["fd"])}


def entry_line(report, backend: str, row: int, col: int) -> str:
    """One line: the worst entry in complex form, the backend's and the reference's; "" for a real one."""
    found = entry_dict(report, backend, row, col, float)
    if found is None:
        return ""

    def shown(spelled):
        return ", ".join(f"{key} = {complex_text(complex(v['re'], v['im']))}" for key, v in spelled.items())

    return f"{found['name']} ({found['kind']}): {backend} {shown(found['value'])}; reference {shown(found['reference'])}"
