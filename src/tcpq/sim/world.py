"""The simulated network: client, server and attacker namespaces joined by a link.

World only builds and wires the parts; each has one job: the link and the kernel's timers
(link.py), the client sockets (client_side.py), the listener and the application's view of
it (server_side.py), what both sides do alike, such as retransmitting a FIN (side.py), what
the run measured (stats.py). A connection's states and their transitions are tables in
lifecycle.py.
"""

import random

from tcpq.model import timewait
from tcpq.model.listener import Listener
from tcpq.model.netns import Netns
from tcpq.model.timing import IDEAL_HOST, HostTiming
from tcpq.scenario import NetworkSection
from tcpq.sim.client_side import ClientSide
from tcpq.sim.conn import ClientAddress
from tcpq.sim.engine import Engine
from tcpq.sim.link import Link
from tcpq.sim.server_side import ServerSide
from tcpq.sim.stats import RunStats


class World:
    def __init__(
        self,
        engine: Engine,
        server_ns: Netns,
        client_ns: Netns,
        listener: Listener,
        *,
        network: NetworkSection,
        rng: random.Random,
        host: HostTiming = IDEAL_HOST,
    ) -> None:
        self.engine = engine
        self.server_ns = server_ns
        self.client_ns = client_ns
        self.listener = listener
        self.addresses: list[ClientAddress] = []
        self.link = Link(
            engine, rtt_us=network.rtt, loss=network.loss, drop_filter=network.filter, rng=rng, host=host
        )
        self.stats = RunStats()
        self.client = ClientSide(engine, client_ns, self.link, self.stats)
        self.server = ServerSide(engine, server_ns, listener, self.link, self.stats, self.client)
        self.client.attach(self.server)

    def new_address(self) -> ClientAddress:
        """Another client source address in the client namespace."""
        low, high = self.client_ns.settings.local_port_range
        address = ClientAddress(
            name=f"client{len(self.addresses)}", ports=timewait.PortSpace(low=low, high=high)
        )
        self.addresses.append(address)
        return address
