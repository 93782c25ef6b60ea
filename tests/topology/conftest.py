"""Fixtures shared by the topology tests: real Redis servers on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology.servers import LocalCluster, require_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A 3-master cluster with a replica per master (skipped, saying why, where redis-server cannot)."""
    require_cluster(tmp_path)
    nodes = LocalCluster(tmp_path / "cluster")
    yield nodes
    nodes.stop()
