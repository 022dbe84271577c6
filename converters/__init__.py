"""Converters to ExecuTorch, LiteRT, Core ML and ONNX, each importing its own dependency: issue 5.
Nothing here yet."""
