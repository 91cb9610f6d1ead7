"""Score candidates on a DICOM folder with models/model.onnx (ONNX Runtime only, no PyTorch).

Same as the `lung-predict` console command; see `python stages/predict.py --help`.
"""

from pipeline.export.predict_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
