"""Run the DICOM node (receive CT series from a PACS, send the findings SR back).

Same as the `lung-node` command, reading the node: section of params.yaml when there is one; see
`python stages/serve.py --help`.
"""

import sys
from pathlib import Path

from pipeline.node.cli import main

if __name__ == "__main__":
    params = Path("params.yaml")
    raise SystemExit(main(sys.argv[1:], default_params=params if params.is_file() else None))
