"""Trained models as self-contained programs: ``torch.export`` or ONNX (:mod:`zoo.deploy.programs`), and
their runner (:mod:`zoo.deploy.runner`), which ``zoo.forecast`` uses for an export directory."""

from zoo.deploy.programs import PROGRAM_FILES, ProgramFormat, export_program
from zoo.deploy.runner import ExportedForecaster, ExportedProgram, is_program_dir, load_program

__all__ = [
    "PROGRAM_FILES",
    "ExportedForecaster",
    "ExportedProgram",
    "ProgramFormat",
    "export_program",
    "is_program_dir",
    "load_program",
]
