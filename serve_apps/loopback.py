"""A replica's gRPC servers on loopback when its node is (Ray's single-machine mode).

Serve 2.60 binds each replica's inter-deployment gRPC server to ``[::]:0``
(``replica.py``: ``add_port_to_grpc_server(self._server, "[::]:0")``) and, with gRPC on, its
direct-ingress gRPC server to ``[::]:<port>`` (``grpc_util.start_grpc_server`` through
``default_impl.add_grpc_address``), with no setting for either address. Both are started after
the deployment's constructor has run, by names the replica looks up when it starts them, so
the constructor can swap those two helpers for ones that bind ``127.0.0.1`` instead. That is
only done on a node whose address is loopback (``inplay up``'s default,
``INPLAY_RAY_LOOPBACK_ONLY``): there, every peer that is told the replica's address (HAProxy,
other deployments' handles) connects to 127.0.0.1 anyway. Ray is pinned (2.60.0); a unit test
checks the hooks are still where this expects them.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_ANY = "[::]:"


def _loopback(address: str) -> str:
    return "127.0.0.1:" + address[len(_ANY):] if address.startswith(_ANY) else address


def loopback_binder(bind: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``bind(server, address)`` with ``[::]:<port>`` turned into ``127.0.0.1:<port>``."""
    if getattr(bind, "inplay_loopback", False):
        return bind

    def bound(server: Any, address: str) -> Any:
        return bind(server, _loopback(address))

    bound.inplay_loopback = True  # type: ignore[attr-defined]
    return bound


def bind_grpc_on_loopback(node_ip: str | None = None) -> bool:
    """In a replica: its gRPC servers bind 127.0.0.1 if its node's address is loopback;
    returns whether they will."""
    import ray
    from ray.serve._private import default_impl, replica

    address = node_ip if node_ip is not None else ray.util.get_node_ip_address()
    try:
        if not ipaddress.ip_address(address).is_loopback:
            return False
    except ValueError:
        return False
    hooks = [(replica, "add_port_to_grpc_server"), (default_impl, "add_grpc_address")]
    if not all(callable(getattr(module, name, None)) for module, name in hooks):
        log.warning("this Ray has not the gRPC bind helpers expected: the replica's gRPC "
                    "servers keep Serve's address")
        return False
    for module, name in hooks:
        setattr(module, name, loopback_binder(getattr(module, name)))
    return True
