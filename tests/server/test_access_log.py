"""What users are told, and what the logs keep (issue 12, item 13)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import websockets

from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"key": "sk_1_AAAsecret1", "apiKey": "sk_1_BBBsecret2", "token": "tok_CCCsecret3",
           "access_token": "DDDsecret4", "Authorization": "Bearer EEEsecret5",
           "smc_token": "FFFsecret6"}


def test_keys_in_a_url_are_redacted_in_the_access_log() -> None:
    query = "&".join(f"{name}={value.replace(' ', '%20')}" for name, value in SECRETS.items())
    with ServerProcess(log_level="info") as server:
        httpx.get(f"{server.url}/graphql?query=%7B__typename%7D&{query}", timeout=10)
        httpx.get(f"{server.url}/healthz?page=2&KEY=sk_1_GGGsecret7#frag", timeout=10)

        async def websocket() -> None:
            ws_url = server.url.replace("http", "ws") + f"/graphql?{query}"
            async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]):
                pass

        asyncio.run(websocket())
        httpx.get(f"{server.url}/healthz?done=1", timeout=10)  # the last line to wait for
        output = server.output
    assert "/healthz?done=1" in output, output[-2000:]  # the access log is on
    for secret in [*SECRETS.values(), "sk_1_GGGsecret7"]:
        assert secret.split("%20")[-1].split(" ")[-1] not in output, secret
    assert "query=%7B__typename%7D" in output  # what is not a secret stays readable
    assert "page=2" in output and "key=[REDACTED]" in output


def test_the_readme_warns_that_the_embedded_store_forgets_on_restart() -> None:
    readme = (ROOT / "README.md").read_text()
    first_command = readme.index("python -m app")
    near = readme[:first_command + 1500].lower()
    assert "restart" in near
    for lost in ("shop", "key", "event"):
        assert lost in near
