"""The one exception the dataset builders raise for bad input.

Every message names the file, the row or record, and the field, because the user who
hits it holds a multi-gigabyte download and needs to find the offending line without a
debugger. Builders validate everything before writing, so a ``DataError`` also means that
no output file was touched.
"""

from __future__ import annotations

from os import PathLike


class DataError(ValueError):
    """Malformed or incomplete input data.

    ``str(error)`` reads ``<file>: <record>: field '<field>': <problem>``; the parts are
    also kept as attributes for callers that want to report them differently.
    """

    def __init__(
        self,
        file: str | PathLike[str],
        problem: str,
        *,
        record: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file)
        self.record = record
        self.field = field
        self.problem = problem
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.file]
        if self.record is not None:
            parts.append(f"row {self.record}" if isinstance(self.record, int) else str(self.record))
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        parts.append(self.problem)
        return ": ".join(parts)
