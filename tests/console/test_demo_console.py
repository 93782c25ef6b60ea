"""``tripwire demo --console``: the demo's pipeline, then the console over its data, with the overview's charts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from shared.config import Settings, TripwireConfig
from shared.redis_server import free_port
from tests.helpers import config_with
from tripwire.demo import run_demo

pytestmark = [pytest.mark.slow, pytest.mark.model]


async def test_demo_then_console_shows_the_overview_and_a_story(default_config: TripwireConfig) -> None:
    port = free_port()
    config = config_with(default_config, console={"port": port})
    settings = Settings(config=config, config_path=Path("demo.yaml"), consumer_name="t")
    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(settings, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            overview = await _first_answer(client, "/", demo)
            assert overview.status_code == 200
            assert overview.text.count('<rect class="bar"') >= 2  # alerts per hour and items per feed, with data
            alerts = (await client.get("/alerts")).text
            story = alerts.split('href="/stories/', 1)[1].split('"', 1)[0]
            page = await client.get(f"/stories/{story}")
            assert page.status_code == 200 and 'class="chart chart-map"' in page.text
    finally:
        stop.set()
        await asyncio.wait_for(demo, 30)


async def _first_answer(client: httpx.AsyncClient, path: str, demo: asyncio.Task[None]) -> httpx.Response:
    # The console comes up once the demo has loaded the model and drained the pipeline.
    for _ in range(600):
        if demo.done():
            demo.result()  # raises what the demo raised
            raise AssertionError("the demo ended without serving the console")
        try:
            return await client.get(path)
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise AssertionError("the console did not come up within a minute")
