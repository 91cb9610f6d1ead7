"""The few named exceptions the library raises.

Each message names the file or series and what was expected, so a user can act on it.
"""


class PipelineError(Exception):
    """Base class of every error the library raises on purpose (stage scripts exit 2)."""

    exit_code = 2


class ConfigError(PipelineError, ValueError):
    """A parameter is missing, unknown, of the wrong type or out of range."""


class DicomReadError(PipelineError):
    """A file is not DICOM, is truncated, or cannot be decoded."""


class SeriesValidationError(PipelineError):
    """A series cannot be stacked into a volume (orientation, spacing, missing slices...)."""


class GeometryError(PipelineError, ValueError):
    """Geometry is inconsistent (non-orthonormal direction, spacing <= 0, ...)."""


class DeidentificationError(PipelineError):
    """De-identification cannot run (no key, unreadable key, unsupported input)."""


class LeakError(DeidentificationError):
    """Verification found identifying values in what would be written (stage scripts exit 3)."""

    exit_code = 3


class ParityError(PipelineError):
    """An exported model disagrees with the reference implementation beyond tolerance."""


class PlotDataError(PipelineError, ValueError):
    """A plots table lacks the columns a figure needs, or has no rows."""


class InputError(PipelineError, ValueError):
    """An input file or folder is missing, empty or malformed (a CSV cell, a row, a path)."""


class OutputBusyError(PipelineError):
    """Another run holds the lock on the same output, or the output would sit inside the input."""


class DiskSpaceError(PipelineError):
    """An output would not fit on its filesystem (needed and free bytes in the message)."""
