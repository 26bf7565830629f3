"""Reading a server's `/metrics` as Prometheus does: the text parser of prometheus-client."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import ADMIN_KEY

Labels = frozenset[tuple[str, str]]


class Scrape:
    """One scrape: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, Labels], float] = {}
        self.types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def label_values(self, prefix: str = "tracker_") -> dict[str, set[str]]:
        """Every label name of the tracker's series, with every value it takes."""
        out: dict[str, set[str]] = {}
        for (name, labels) in self.samples:
            if name.startswith(prefix):
                for key, value in labels:
                    out.setdefault(key, set()).add(value)
        return out

    def names(self) -> Iterable[str]:
        return {name for name, _ in self.samples}


async def scrape(http: httpx.AsyncClient, key: str = ADMIN_KEY) -> Scrape:
    response = await http.get("/metrics", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.total(name, **labels) - before.total(name, **labels)
