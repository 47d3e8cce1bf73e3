"""The state tests' own Redis processes get ports that cannot be taken from under them."""

from __future__ import annotations

from ports import ephemeral_start, free_port


def test_server_ports_are_distinct_and_outside_the_ephemeral_range():
    """Two nodes of a group are given ports before either binds, and a node killed and
    restarted needs its port back: a port from the ephemeral range (what bind(0) gives)
    can meanwhile be the source port of any outgoing connection. Seen: a sentinel given
    its replica's port, and a cluster node that could not come back."""
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(p < ephemeral_start() for p in ports)
