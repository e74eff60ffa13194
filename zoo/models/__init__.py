"""Model families; importing this package registers every model with ``zoo.registry``."""

from zoo.models.base import Forecaster
from zoo.models.ensemble import EnsembleForecaster
from zoo.models.gumbel import GumbelVAE
from zoo.models.informer import InformerForecaster
from zoo.models.latent import LatentVariableModel
from zoo.models.linear import LinearForecaster
from zoo.models.naive import NaiveForecaster
from zoo.models.nbeats import NBeatsForecaster
from zoo.models.rnn import RNNForecaster
from zoo.models.tcn import TCNForecaster
from zoo.models.transformer import TransformerForecaster
from zoo.models.vae import VAE

__all__ = [
    "VAE",
    "EnsembleForecaster",
    "Forecaster",
    "GumbelVAE",
    "InformerForecaster",
    "LatentVariableModel",
    "LinearForecaster",
    "NBeatsForecaster",
    "NaiveForecaster",
    "RNNForecaster",
    "TCNForecaster",
    "TransformerForecaster",
]
