"""From raw CT DICOM to a validated, exportable lung-nodule classifier."""

__version__ = "0.1.0"
