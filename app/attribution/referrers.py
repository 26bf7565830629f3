"""Which sites send visitors: search engines, social networks and messengers, web mail.

The bulk of the table is Snowplow's referer-parser list, as the PyPI package
`referer-parser` (0.4.1) ships it (`referer_parser/data/referers.json`, Apache-2.0):
about 300 hosts by medium (`search`, `social`, `email`). That release dates from
2016, so `ADDED` below brings what it lacks or files under the wrong medium for
this project's shops: Yandex's newer hosts and its mail (a host under `yandex.ru`
would otherwise match Yandex search), VK's and OK's current hosts, Mail.ru search
and mail apart, Dzen (ex Yandex Zen, a social feed), Telegram (web, links, app),
and the apps that send an `android-app://` referrer. `ADDED` wins over the package.

A host matches its own entry or, failing that, the entry of its nearest parent
domain (`m.vk.com` -> `vk.com`), one dictionary look-up per label: no scan.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

SEARCH = "search"
SOCIAL = "social"
EMAIL = "email"

ADDED: dict[str, str] = {
    # Yandex: search on its newer and regional hosts; its mail, and Dzen, under yandex.ru.
    "ya.ru": SEARCH, "yandex.ru": SEARCH, "yandex.com": SEARCH, "yandex.kz": SEARCH,
    "yandex.by": SEARCH, "yandex.ua": SEARCH, "yandex.uz": SEARCH, "yandex.com.tr": SEARCH,
    "yandex.com.am": SEARCH, "yandex.com.ge": SEARCH, "yandex.az": SEARCH,
    "mail.yandex.ru": EMAIL, "mail.yandex.com": EMAIL, "mail.yandex.kz": EMAIL,
    "mail.yandex.by": EMAIL, "mail.ya.ru": EMAIL,
    "zen.yandex.ru": SOCIAL, "zen.yandex.com": SOCIAL, "dzen.ru": SOCIAL,
    # VK and OK (Odnoklassniki).
    "vk.com": SOCIAL, "vk.ru": SOCIAL, "vkontakte.ru": SOCIAL, "vk.me": SOCIAL,
    "ok.ru": SOCIAL, "odnoklassniki.ru": SOCIAL,
    # Mail.ru: its search apart from its mail; my.mail.ru is its social network.
    "go.mail.ru": SEARCH, "search.mail.ru": SEARCH, "mail.ru": EMAIL, "e.mail.ru": EMAIL,
    "touch.mail.ru": EMAIL, "my.mail.ru": SOCIAL,
    # Telegram: links, the web clients, the app.
    "t.me": SOCIAL, "telegram.me": SOCIAL, "telegram.org": SOCIAL, "web.telegram.org": SOCIAL,
    "org.telegram.messenger": SOCIAL, "org.telegram.messenger.web": SOCIAL,
    # Others the 2016 list lacks or lists only in part.
    "x.com": SOCIAL, "t.co": SOCIAL, "twitter.com": SOCIAL, "tiktok.com": SOCIAL,
    "instagram.com": SOCIAL, "l.instagram.com": SOCIAL, "facebook.com": SOCIAL,
    "lm.facebook.com": SOCIAL, "linkedin.com": SOCIAL, "lnkd.in": SOCIAL,
    "youtube.com": SOCIAL, "youtu.be": SOCIAL, "pinterest.com": SOCIAL, "pin.it": SOCIAL,
    "reddit.com": SOCIAL, "out.reddit.com": SOCIAL, "threads.net": SOCIAL,
    "duckduckgo.com": SEARCH, "ecosia.org": SEARCH, "bing.com": SEARCH, "baidu.com": SEARCH,
    "m.baidu.com": SEARCH, "search.brave.com": SEARCH,
    "outlook.live.com": EMAIL, "outlook.office.com": EMAIL, "outlook.office365.com": EMAIL,
    "mail.google.com": EMAIL,
    # Apps that send `android-app://<package>` as the referrer.
    "com.google.android.gm": EMAIL, "ru.mail.mailapp": EMAIL, "ru.yandex.mail": EMAIL,
    "com.google.android.googlequicksearchbox": SEARCH, "ru.yandex.searchplugin": SEARCH,
    "com.vkontakte.android": SOCIAL, "ru.ok.android": SOCIAL, "com.facebook.katana": SOCIAL,
    "com.instagram.android": SOCIAL, "com.twitter.android": SOCIAL,
    "com.zhiliaoapp.musically": SOCIAL,
}

OTHER = "unknown"  # the package's medium for hosts that are none of the three


@cache
def table() -> dict[str, str]:
    """Host -> medium: the package's list, then ours over it."""
    hosts: dict[str, str] = {}
    raw = resources.files("referer_parser").joinpath("data/referers.json").read_text("utf-8")
    for medium, sites in json.loads(raw).items():
        for site in sites.values():
            for domain in site.get("domains", []):
                if "/" not in domain:  # entries by path (google.com/products) are not hosts
                    hosts[domain.lower()] = medium
    hosts.update(ADDED)
    return hosts


def medium_of(host: str) -> str | None:
    """The medium of `host` or of its nearest listed parent domain; None if unlisted.

    Hosts the package lists as `unknown` (news.yahoo.com, drive.google.com) stop the
    climb: they are plain referrers, not the search engine of their parent domain.
    """
    hosts = table()
    labels = host.lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):
        found = hosts.get(".".join(labels[start:]))
        if found is not None:
            return None if found == OTHER else found
    return None
