"""What crawler processes put in Redis for the one archive writer: items and run records."""

from __future__ import annotations

import base64
import json
from typing import Any

from itemadapter import ItemAdapter

ITEMS_KEY = "ccnews:items"
RUNS_KEY = "ccnews:runs"


def serialize_item(item: Any) -> str:
    """JSON for an archive item; page bodies travel base64-encoded, exactly as received."""
    data = ItemAdapter(item).asdict()
    pages = []
    for page in data.get("pages") or []:
        page = {k: v for k, v in page.items() if k != "text"}  # the writer has the bytes and encoding
        if isinstance(page.get("body"), bytes):
            page["body"] = base64.b64encode(page["body"]).decode("ascii")
        pages.append(page)
    data["pages"] = pages
    return json.dumps(data, ensure_ascii=False, default=str)


def deserialize_item(raw: bytes | str) -> dict[str, Any]:
    data = json.loads(raw)
    for page in data.get("pages") or []:
        if isinstance(page.get("body"), str):
            page["body"] = base64.b64decode(page["body"])
    return data
