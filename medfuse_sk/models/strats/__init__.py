"""STraTS (Tipirneni & Reddy, 2022): continuous value embeddings of (feature, value, time)
triplets, a Transformer, fusion attention; optional self-supervised forecasting pre-training."""

from .._neural import register_network
from ._estimator import PARAMS, StratsClassifier
from ._network import ContinuousValueEmbedding, StratsModule, TripletEmbedding
from ._pretrain import forecast_loss, forecast_task, pretrain_forecaster

__all__ = ["PARAMS", "ContinuousValueEmbedding", "StratsClassifier", "StratsModule",
           "TripletEmbedding", "forecast_loss", "forecast_task", "pretrain_forecaster"]

register_network("strats", StratsClassifier,
                 description="STraTS: triplet embeddings (continuous value embedding), "
                             "Transformer, fusion attention")
