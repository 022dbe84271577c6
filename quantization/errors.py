"""The one error type of the quantization stage: str() is one line that names the file and the fix."""


class QuantError(ValueError):
    """Bad calibration data, a checkpoint of another variant, a target whose dependency is missing..."""
