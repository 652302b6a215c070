"""One key per article URL, so that tracking parameters, http/https, `www.` and a trailing slash
do not make a second record."""

from urllib.parse import urlsplit, urlunsplit

# Query parameters that only ever say where a reader came from: dropped even from the URLs we fetch.
SURE_TRACKING = frozenset(
    """utm_source utm_medium utm_campaign utm_term utm_content utm_id utm_name utm_brand
    utm_social utm_social-type fbclid gclid dclid msclkid yclid mc_cid mc_eid igshid _ga _gl""".split()
)
# These usually track too, but some sites route on them (`?ref=rss` pages exist): they are ignored
# when recognising the same article, and kept when fetching.
TRACKING_PARAMS = SURE_TRACKING | frozenset(
    """ref ref_src ref_url referrer src source share amp_js_v amp_gsa cmpid ocid ito xtor
    at_medium at_campaign spm""".split()
)


def strip_tracking(url: str, params: frozenset[str] = SURE_TRACKING) -> str:
    """The URL without tracking parameters and fragment."""
    from w3lib.url import url_query_cleaner  # not at import: `ccnews search` never needs it (11 ms)

    return url_query_cleaner(url, params, remove=True, keep_fragments=False)


def url_key(url: str) -> str:
    """A scheme-less, normalised form of `url` used to recognise the same page."""
    from w3lib.url import canonicalize_url

    url = canonicalize_url(strip_tracking(url.strip(), TRACKING_PARAMS))
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/") or "/"
    if path.endswith(("/index.html", "/index.php")):
        path = path.rsplit("/", 1)[0] or "/"
    return urlunsplit(("", host, path, parts.query, "")).lstrip("/")



def is_front_page(key: str) -> bool:
    """Whether a url_key names a site's front page (`host/`, `host/index.html`); `host/?p=101` is a
    WordPress post, not the front page."""
    rest = key.split("/", 1)[1] if "/" in key else ""
    return rest.strip("/") == ""
