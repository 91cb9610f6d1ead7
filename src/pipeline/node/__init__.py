"""A DICOM node: receive CT series from a PACS over C-STORE, run predict, send the SR back.

Modules, in the order a series flows through them:
``params`` (settings), ``layout`` (the work folder on disk, which is the node's whole state),
``inbox`` (received instances grouped by series, sealed when quiet), ``scp`` (the Storage SCP),
``process`` (the replaceable processing step; default: predict), ``outbox`` (results waiting to
be sent, with retries), ``scu`` (the C-STORE to the destination), ``service`` (threads, start,
stop, recovery) and ``cli`` (``lung-node``).
"""
