"""The suite's browser does no work of its own beside the pages under test.

Chromium's omnibox popup is a WebUI page in a renderer of its own that follows every
navigation, headless too; it cost about a third of the browser's CPU per page load. If a
new chromium brings it back under another feature name, this fails and the name goes into
``CHROMIUM_ARGS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_the_browser_runs_no_webui_of_its_own(browser: Any,
                                              new_page: Callable[..., Any]) -> None:
    page = new_page()
    page.goto("data:text/html,<p>x</p>")
    session = browser.new_browser_cdp_session()
    try:
        targets = session.send("Target.getTargets", {})["targetInfos"]
    finally:
        session.detach()
    assert any(target["type"] == "page" for target in targets), targets
    assert not [target for target in targets if target["type"] == "browser_ui"
                or ".top-chrome" in target["url"]], targets
