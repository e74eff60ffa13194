"""LightningModules: the only training-loop code in the zoo."""

from zoo.tasks.forecasting import ForecastingTask
from zoo.tasks.generative import GenerativeTask
from zoo.tasks.optim import OptimizerConfig

__all__ = ["ForecastingTask", "GenerativeTask", "OptimizerConfig"]
