"""Which proxy a request goes through: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and
NO_PROXY, read as curl and Python's urllib read them (lower case first)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

from monitor.errors import FeedError

SUPPORTED = ("http", "https")


def _variable(environ: Mapping[str, str], name: str) -> str:
    return (environ.get(name.lower()) or environ.get(name.upper()) or "").strip()


@dataclass(frozen=True)
class Proxies:
    by_scheme: Mapping[str, str] = field(default_factory=dict)  # target scheme -> proxy URL
    no_proxy: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Proxies:
        every = _variable(environ, "all_proxy")
        by_scheme = {
            scheme: proxy
            for scheme in SUPPORTED
            if (proxy := _variable(environ, f"{scheme}_proxy") or every)
        }
        return cls(by_scheme, _variable(environ, "no_proxy"))

    def for_target(self, scheme: str, host: str, port: int) -> str | None:
        """The proxy URL for a request to ``host``, or None to go direct."""
        proxy = self.by_scheme.get(scheme)
        if not proxy or self._bypassed(host, port):
            return None
        proxy_scheme = urlsplit(proxy if "://" in proxy else f"http://{proxy}").scheme
        if proxy_scheme not in SUPPORTED:
            raise FeedError(
                "proxy_error", f"{proxy_scheme} proxies are not supported (set an http:// proxy)"
            )
        return proxy if "://" in proxy else f"http://{proxy}"

    def _bypassed(self, host: str, port: int) -> bool:
        if not self.no_proxy:
            return False
        return bool(
            proxy_bypass_environment(host, {"no": self.no_proxy})
            or proxy_bypass_environment(f"{host}:{port}", {"no": self.no_proxy})
        )
