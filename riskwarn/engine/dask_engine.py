"""The Dask engine: hotspot frames per origin block on the workers, ``xgboost.dask``.

* Frames: the origins are cut into blocks (:func:`riskwarn.engine.origin_blocks`, twice
  as many as the cluster has threads); each block is one task that reads the lake *on
  the worker* (:class:`~riskwarn.engine.EventSource`: path, table version, cut-off) and
  runs the same :func:`models.hotspot_backtest.build_model_frame` as the local
  path; the client only concatenates the blocks' rows. The rows are the local path's,
  value for value.
* Boosters: the rows go to the workers split at origin boundaries (a ranking query group
  never spans two workers) and ``xgboost.dask.train`` grows the trees with the local
  parameters (``nthread`` left to each worker's threads). Early stopping uses the same
  pooled hit rate, computed per worker on its groups and summed across workers
  (:func:`pooled_hit_rate`).

What differs from one machine, and why the scores agree only within a tolerance: the
``hist`` split candidates come from quantile sketches merged across workers, row
subsampling (``subsample``) draws per worker, and the early-stopping hit rate counts
labels clipped at 31 events per cell (the ranking label), so a booster may keep a
different number of trees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn.engine.base import EventSource, origin_blocks

if TYPE_CHECKING:
    import xgboost as xgb
    from distributed import Client, LocalCluster

    from models.backtest import BoosterTrainer, ModelConfig
    from models.hotspot_backtest import FrameBuilder, HotspotBacktestSpec
    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

RANK_LABEL_CAP = 31  # as models.matrices._dmatrix: ranking labels are 0..31


@dataclass
class DaskEngine:
    """A ``distributed.Client`` (and the LocalCluster it started, if any)."""

    client: Client
    cluster: LocalCluster | None = None
    blocks_per_thread: int = 2
    name: str = field(default="dask", init=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> DaskEngine:
        """Connect to ``settings.dask_scheduler``, or start a LocalCluster of worker
        processes on this machine when it is empty."""
        from distributed import Client, LocalCluster

        if settings.dask_scheduler:
            log.info("dask engine: scheduler %s", settings.dask_scheduler)
            return cls(Client(settings.dask_scheduler, set_as_default=False, timeout="30s"))
        cluster = LocalCluster(
            n_workers=settings.dask_workers,
            threads_per_worker=settings.dask_threads_per_worker,
            processes=True,
            dashboard_address=None,
        )
        log.info("dask engine: LocalCluster of %d worker(s)", settings.dask_workers)
        return cls(Client(cluster, set_as_default=False), cluster)

    def threads(self) -> int:
        """Threads of every worker of the cluster (at least 1)."""
        info = self.client.scheduler_info(n_workers=-1)
        return max(1, sum(int(w.get("nthreads", 1)) for w in info["workers"].values()))

    def frame_builder(self, source: EventSource) -> FrameBuilder:
        return partial(
            build_frame_on_cluster, self.client, source, self.threads() * self.blocks_per_thread
        )

    def trainer(self) -> BoosterTrainer:
        return partial(train_booster_on_cluster, self.client)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# --------------------------------------------------------------------------- frames


def frame_block(
    source: EventSource,
    cells: pd.DataFrame,
    origins: pd.DatetimeIndex,
    spec: HotspotBacktestSpec,
    context: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One block's model frame, on a worker: read the lake there, build as locally."""
    from models.hotspot_backtest import build_model_frame

    return build_model_frame(source.events(), cells, origins, spec, context)


def build_frame_on_cluster(
    client: Client,
    source: EventSource,
    n_blocks: int,
    events: pd.DataFrame,
    cells: pd.DataFrame,
    origins: pd.DatetimeIndex,
    spec: HotspotBacktestSpec,
    context: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A :class:`~models.hotspot_backtest.FrameBuilder` on the cluster.

    ``events`` (the client's copy) is not shipped: each block's task reads ``source``
    itself; ``context`` (other sources' points, small) goes with each block. Blocks come
    back in origin order, so the rows are in the local order.
    """
    blocks = origin_blocks(origins, n_blocks)
    futures = [
        client.submit(frame_block, source, cells, block, spec, context, pure=False)
        for block in blocks
    ]
    parts = [p for p in client.gather(futures) if len(p)]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- boosters


def ranking_label(frame: pd.DataFrame) -> np.ndarray:
    """The label the single-node ranking DMatrix carries (counts clipped at 31)."""
    return np.minimum(frame["label_count"].to_numpy(np.float32), RANK_LABEL_CAP)


def pooled_hit_rate(
    predt: np.ndarray, dmat: xgb.DMatrix, *, fraction: float, total: float
) -> tuple[str, float]:
    """Early-stopping metric on a worker: hits in the top ``fraction`` of each of *its*
    query groups over the ``total`` label of every worker, times the number of workers.

    XGBoost averages a custom metric over the workers (sum / world size), so the result
    is the pooled hit rate of all the groups, as the single-node metric computes it."""
    from xgboost import collective

    name = f"hit_rate@{fraction:g}"
    if total <= 0 or len(predt) == 0:
        return name, 0.0
    ptr = np.asarray(dmat.get_uint_info("group_ptr"), dtype=np.int64)
    sizes = np.diff(ptr) if len(ptr) > 1 else np.array([len(predt)])
    group = np.repeat(np.arange(len(sizes)), sizes)
    k = np.maximum(1, np.round(fraction * sizes)).astype(int)
    order = np.lexsort((-predt, group))
    g_sorted = group[order]
    first = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(len(order)) - first
    hits = float(dmat.get_label()[order][rank < k[g_sorted]].sum())
    world = max(1, collective.get_world_size())
    return name, world * hits / total


def _dask_matrix(client: Client, frame: pd.DataFrame, features: list[str], n_parts: int) -> Any:
    """Rows sorted by origin, partitioned at origin boundaries, one query group each."""
    import dask.dataframe as dd
    from xgboost import dask as dxgb

    frame = frame.sort_values("origin", kind="stable")
    qid = pd.factorize(frame["origin"], sort=True)[0]
    data = pd.DataFrame(frame[features].to_numpy(np.float32), columns=features)
    data["_label"] = ranking_label(frame)
    data["_qid"] = qid
    data.index = pd.Index(qid, name="_group")
    n = max(1, min(n_parts, int(qid.max()) + 1 if len(qid) else 1))
    ddf = dd.from_pandas(data, npartitions=n, sort=True)  # equal index values stay together
    return dxgb.DaskDMatrix(
        client, ddf[features], label=ddf["_label"], qid=ddf["_qid"], feature_names=features
    )


def train_booster_on_cluster(
    client: Client,
    params: dict[str, Any],
    fit: pd.DataFrame,
    es: pd.DataFrame,
    features: list[str],
    config: ModelConfig,
) -> xgb.Booster:
    """A :data:`~models.backtest.BoosterTrainer` through ``xgboost.dask``."""
    from xgboost import dask as dxgb
    from xgboost.callback import EarlyStopping

    if not config.objective.startswith("rank:"):
        raise ValueError(
            f"the dask engine trains ranking objectives (rank:*), not {config.objective!r}: "
            "set RISKWARN_ENGINE=local for it"
        )
    n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    dist_params = {k: v for k, v in params.items() if k != "nthread"}
    metric = partial(
        pooled_hit_rate, fraction=config.top_fraction, total=float(ranking_label(es).sum())
    )
    with client.as_current():  # the collections persist on this client, not a global one
        d_fit = _dask_matrix(client, fit, features, 2 * n_workers)
        d_es = _dask_matrix(client, es, features, 2 * n_workers)
        out = dxgb.train(
            client,
            dist_params,
            d_fit,
            num_boost_round=config.max_rounds,
            evals=[(d_es, "es")],
            custom_metric=metric,
            # xgboost.train's early_stopping_rounds + maximize=True, spelt as its callback
            callbacks=[EarlyStopping(rounds=config.early_stopping_rounds, maximize=True)],
            verbose_eval=False,
        )
    return out["booster"]
