"""A User-Agent header in words ("Chrome on Linux"), for the list of signed-in devices.

A few ordered patterns rather than a parsing library: the page needs the browser family and
the operating system, not versions or device models, and the header is attacker-chosen text
that is only ever shown back to the account's own user (escaped).
Order matters: Edge and Opera say "Chrome", Chrome says "Safari", every browser says "Mozilla".
"""

from __future__ import annotations

import re

_BROWSERS = (
    (re.compile(r"HeadlessChrome/"), "Headless Chrome"),
    (re.compile(r"Edg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"SamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"Vivaldi/"), "Vivaldi"),
    (re.compile(r"YaBrowser/"), "Yandex Browser"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|CriOS/|Chromium/"), "Chrome"),
    (re.compile(r"Version/[\d.]+.*Safari/"), "Safari"),
    (re.compile(r"MSIE |Trident/"), "Internet Explorer"),
    (re.compile(r"^curl/"), "curl"),
    (re.compile(r"^python-requests/|^python-httpx/|^Python-urllib/"), "a Python script"),
)
_SYSTEMS = (
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"Linux|X11"), "Linux"),
)


def describe(user_agent: str) -> str:
    """'Firefox on Windows', 'Safari on iOS', 'Chrome', 'Unknown device'."""
    text = (user_agent or "")[:512]
    browser = next((name for pattern, name in _BROWSERS if pattern.search(text)), None)
    system = next((name for pattern, name in _SYSTEMS if pattern.search(text)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    return "Unknown device"
