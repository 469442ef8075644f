"""Dask clients: an existing one, a running scheduler, or a local cluster."""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Union

from ..errors import BadArgumentError

__all__ = ["connect", "Scheduler"]

#: What :func:`connect` accepts.
Scheduler = Union[None, int, str, Any]


@contextlib.contextmanager
def connect(scheduler: Scheduler = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed on exit if created here.

    Parameters
    ----------
    scheduler : None, int, str or distributed.Client
        An existing client (used as is); the address of a running scheduler
        (``"tcp://host:8786"``); a number of local worker processes (one
        thread each); or None for the current default client, else a local
        cluster of one process with a thread per core.
    """
    from distributed import Client, LocalCluster, default_client

    if scheduler is not None and not isinstance(scheduler, (int, str)):
        yield scheduler
        return
    if scheduler is None:
        try:
            client = default_client()
        except ValueError:  # no client yet
            client = None
        if client is not None:
            yield client
            return
        cluster = LocalCluster(n_workers=1, threads_per_worker=os.cpu_count() or 1,
                               processes=False, dashboard_address=":0")
    elif isinstance(scheduler, int) or scheduler.isdigit():
        n = int(scheduler)
        if n < 1:
            raise BadArgumentError(f"the number of Dask workers must be >= 1; got {n}")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0")
    else:
        if "://" not in scheduler and ":" not in scheduler:
            raise BadArgumentError(
                f"{scheduler!r} is neither a scheduler address (tcp://host:8786) nor a number "
                "of local workers")
        with Client(scheduler) as client:
            yield client
        return
    with cluster, Client(cluster) as client:
        yield client
