"""Take the README's screenshot of the admin: log in to a running demo and capture pages.

    .venv/bin/python scripts/screenshot_admin.py http://127.0.0.1:8000 admin PASSWORD

Uses Debian's chromium (/usr/bin/chromium or $CHROMIUM); no browser is downloaded.
"""

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main(base_url: str, username: str, password: str) -> None:
    out = Path(__file__).resolve().parent.parent / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")
        page.goto(f"{base_url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base_url}/admin/")
        page.screenshot(path=str(out / "admin-index.png"))
        page.goto(f"{base_url}/admin/loyalty/partner/")
        page.screenshot(path=str(out / "admin-partners.png"))
        browser.close()
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
