"""A session's channel, from its first event's URL and referrer.

The contract's rules (CONTRACT.md section 12), first match wins:

    smc_tid=<a trigger of this shop> in the URL    -> TRIGGER (and triggerId)
    utm_medium email / e-mail / newsletter         -> EMAIL
    gclid / yclid / msclkid, or utm_medium
      cpc / ppc / paid / paidsearch                -> PAID_SEARCH
    referrer host of a search engine               -> ORGANIC_SEARCH
    ... of a social network or messenger           -> SOCIAL
    ... of a web mail                              -> EMAIL
    any other referrer host, not the shop's own    -> REFERRAL
    else                                           -> DIRECT

Pure: whether an `smc_tid` names a trigger of the shop is looked up by the caller
(`link_trigger_id` finds the candidate) and passed in as `trigger_id`. The shop's
own hosts are its sources' domains and the landing page's host (a visitor
following a link inside the shop is not referred), each with its subdomains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from app.attribution.referrers import EMAIL as MAIL
from app.attribution.referrers import SEARCH, SOCIAL, medium_of

DIRECT = "DIRECT"
ORGANIC_SEARCH = "ORGANIC_SEARCH"
PAID_SEARCH = "PAID_SEARCH"
SOCIAL_CHANNEL = "SOCIAL"
EMAIL = "EMAIL"
TRIGGER = "TRIGGER"
REFERRAL = "REFERRAL"
CHANNELS = (DIRECT, ORGANIC_SEARCH, PAID_SEARCH, SOCIAL_CHANNEL, EMAIL, TRIGGER, REFERRAL)

LINK_PARAM = "smc_tid"
UTM_FIELDS = ("source", "medium", "campaign", "term", "content")
EMAIL_MEDIA = {"email", "e-mail", "newsletter"}
PAID_MEDIA = {"cpc", "ppc", "paid", "paidsearch"}
CLICK_IDS = ("gclid", "yclid", "msclkid")
_BY_MEDIUM = {SEARCH: ORGANIC_SEARCH, SOCIAL: SOCIAL_CHANNEL, MAIL: EMAIL}
MAX_UTM = 256  # characters kept of each utm value


@dataclass(frozen=True)
class Source:
    """Where a session came from."""

    channel: str
    utm: dict[str, str] | None = None
    referrer_host: str | None = None
    trigger_id: str | None = None

    def doc(self) -> dict[str, object]:
        return {"channel": self.channel, "utm": self.utm, "referrerHost": self.referrer_host,
                "triggerId": self.trigger_id}


def link(trigger_id: str) -> str:
    """`Trigger.link`: the query parameter to append to the shop's links."""
    return f"{LINK_PARAM}={quote(trigger_id, safe=':@-._~')}"


def _query(url: str | None) -> dict[str, list[str]]:
    if not url or "?" not in url:  # most landings: nothing to parse
        return {}
    try:
        return parse_qs(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return {}


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".") or None if host else None


def link_trigger_id(url: str | None) -> str | None:
    """The trigger id an `smc_tid` parameter of `url` names, if any (not yet checked)."""
    if not url or LINK_PARAM not in url:
        return None
    values = _query(url).get(LINK_PARAM)
    return values[0] if values and values[0] else None


def utm_of(url: str | None) -> dict[str, str] | None:
    return _utm(_query(url))


def _utm(query: dict[str, list[str]]) -> dict[str, str] | None:
    if not query:
        return None
    utm = {f: query[f"utm_{f}"][0][:MAX_UTM] for f in UTM_FIELDS if query.get(f"utm_{f}")}
    return utm or None


def _bare(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def is_own(host: str, own: Iterable[str]) -> bool:
    """`host` is one of `own` or a subdomain of one (www. aside)."""
    host = _bare(host.lower())
    for domain in own:
        domain = _bare(domain.lower().strip().rstrip("."))
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def classify(url: str | None, referrer: str | None, own_domains: Iterable[str] = (),
             trigger_id: str | None = None) -> Source:
    """The session's channel by the contract's rules, in order.

    `trigger_id`: the `smc_tid` of `url` when it names a trigger of the shop.
    """
    query = _query(url)
    utm = _utm(query)
    ref_host = _host(referrer)
    if trigger_id is not None:
        return Source(TRIGGER, utm, ref_host, trigger_id)
    medium = (utm or {}).get("medium", "").strip().lower()
    if medium in EMAIL_MEDIA:
        return Source(EMAIL, utm, ref_host)
    if medium in PAID_MEDIA or any(query.get(name) for name in CLICK_IDS):
        return Source(PAID_SEARCH, utm, ref_host)
    if ref_host is None:
        return Source(DIRECT, utm, None)
    own = [*own_domains, *([h] if (h := _host(url)) else [])]
    if is_own(ref_host, own):
        return Source(DIRECT, utm, ref_host)
    listed = medium_of(ref_host)
    return Source(_BY_MEDIUM[listed] if listed else REFERRAL, utm, ref_host)
