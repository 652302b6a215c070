"""Addresses a crawl must never reach: link-local networks and cloud metadata services.

A registry entry (or a redirect from an outlet) pointing there would make ccnews fetch a cloud
machine's credentials on behalf of whoever wrote it. Loopback and private networks stay allowed:
tests, demos and intranet outlets live there.
"""

from __future__ import annotations

import ipaddress

# Names and addresses of instance-metadata services beyond the link-local ranges.
METADATA_HOSTS = {
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
}
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}


def forbidden_host(host: str | None) -> str | None:
    """Why `host` must not be fetched (link-local, cloud metadata), or None."""
    if not host:
        return None
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS:
        return "a cloud metadata service"
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata service"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    return None
