"""From raw CT DICOM to a validated, exportable lung-nodule classifier."""

from pipeline.numerics import pin_numerics

# Before anything imports torch's kernels: the same bytes on every AVX2/AVX-512 CPU (numerics.py).
pin_numerics()

__version__ = "0.1.0"
